"""Timeline inputs: clip ranges from several files scored as one piece (what the editor plugins send)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from media import combing, decode_audio, ffmpeg, lufs, make_two_shot_video, streams
from PIL import Image

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.jobs.runner import ScoreOptions, score
from cotvtm_desktop.media.probe import probe
from cotvtm_desktop.media.timeline import read_timeline


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    warm = make_two_shot_video(folder / "warm.mp4", "orange", "yellow", 6.0, 12.0)
    cool = make_two_shot_video(folder / "cool.mp4", "navy", "navy", 4.5, 9.0)  # one shot
    return folder, warm, cool


def write(folder, clips, name="edit.json"):
    path = folder / name
    path.write_text(json.dumps({"clips": clips}))
    return path


def test_a_timeline_scores_into_music_of_its_length_with_cuts_at_the_joins(sources, tmp_path):
    folder, warm, cool = sources
    edit = write(folder, [{"path": "warm.mp4", "in": 1.0, "out": 8.5}, {"blank": 1.5},
                          {"path": str(cool), "in": 0.5, "out": 8.5}, {"path": "warm.mp4", "in": 9, "out": 12.04}])
    out = tmp_path / "music.wav"
    events = []
    manifest = score(edit, out, ScoreOptions(backend="procedural"), events.append)
    audio, rate = soundfile.read(out)
    assert rate == 48000 and len(audio) / rate == pytest.approx(7.5 + 1.5 + 8 + 3, abs=0.01)
    assert manifest["input"]["kind"] == "timeline" and len(manifest["clips"]) == 4
    assert [c["offset"] for c in manifest["clips"]] == [0, 7.5, 9, 17]
    for join in (7.5, 9.0, 17.0):
        assert any(abs(c - join) < 0.01 for c in manifest["cuts"])
    assert any(abs(c - 5.0) < 0.3 for c in manifest["cuts"])  # warm.mp4's own cut at 6 s, 1 s into the clip
    boundaries = [s["end"] for s in manifest["segments"]]
    assert boundaries[-1] == pytest.approx(20.0) and all(
        min(abs(b - c) for c in manifest["cuts"]) < 0.01 for b in boundaries[:-1])  # music changes on cuts
    warm_segment, cool_segment = manifest["segments"][:2]  # 0-9 s: warm and its gap; 9-20 s: mostly navy
    assert warm_segment["visual"]["warmth"] > cool_segment["visual"]["warmth"]
    assert manifest["video_stream"] is None and "file_done" in [e["type"] for e in events]


def test_a_timeline_scored_to_mp4_gets_a_small_render_of_its_picture(sources, tmp_path):
    """What the desktop app previews for an editor project: the edit's picture, letterboxed to one size, each clip
    and gap in its place on the frame grid, with the music; pieces kept in a work folder render once."""
    folder, warm, cool = sources
    Image.new("RGB", (300, 400), (0, 200, 0)).save(folder / "green.png")  # upright, narrower than the video
    clips = [{"path": "warm.mp4", "in": 1.0, "out": 3.0}, {"blank": 1.0}, {"path": "cool.mp4", "in": 0, "out": 2.0},
             {"path": "green.png", "in": 0, "out": 1.5}]
    edit, out, work = write(folder, clips, "preview.json"), tmp_path / "preview.mp4", tmp_path / "work"
    manifest = score(edit, out, ScoreOptions(backend="procedural", work_dir=work))
    info = streams(out)
    assert info["video"] == "h264" and info["audio"] == "aac" and info["duration"] == pytest.approx(6.5, abs=0.05)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    assert len(frames) == round(6.5 * 25) and manifest["timings"]["picture"] > 0
    middle = {t: picture[160:200, 300:340].reshape(-1, 3).mean(axis=0) for t, picture in frames}
    colour = {t: middle[min(middle, key=lambda s: abs(s - t))] for t in (1.0, 2.5, 3.5, 5.9)}
    assert colour[1.0][0] > 200 and colour[1.0][2] < 80  # warm.mp4: orange
    assert colour[2.5].max() < 20  # the gap: black
    assert colour[3.5][2] > colour[3.5][0] + 60  # cool.mp4: navy
    assert colour[5.9][1] > 150 > colour[5.9][0]  # the image, letterboxed: green in the middle...
    assert frames[-1][1][:, :100].max() < 30  # ...black at the sides

    pieces = {p.name: p.stat().st_mtime_ns for p in work.glob("piece-*.mp4")}
    assert len(pieces) == 4 and not (work / "picture.mp4").exists()
    analyses = {p.name: p.stat().st_mtime_ns for p in work.glob("analysis-*.npz")}
    assert len(analyses) == 1 + 3  # the timeline's, and each clip's (not the gap's: a black still costs nothing)
    clips[2].update({"in": 2.0, "out": 4.0})  # one clip changed: its piece alone renders again...
    again = score(write(folder, clips, "preview.json"), out, ScoreOptions(backend="procedural", work_dir=work,
                                                                          overwrite=True))
    assert len(again["segments"]) == len(manifest["segments"])
    rendered = {p.name: p.stat().st_mtime_ns for p in work.glob("piece-*.mp4")}
    assert len(rendered) == 4 and len(set(rendered.items()) & set(pieces.items())) == 3
    measured = {p.name: p.stat().st_mtime_ns for p in work.glob("analysis-*.npz")}
    assert len(measured) == 4 and len(set(measured.items()) & set(analyses.items())) == 2  # ...and is measured


def test_the_preview_picture_shows_each_source_at_its_display_shape(sources, tmp_path):
    """An HDV clip's 4:3 pixels widen its 1440x1080 frames to 16:9; a phone photo stored sideways stands up."""
    folder, *_ = sources
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=1440x1080:rate=25", "-t", "2", "-vf", "setsar=4/3",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "hdv.mp4"))
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90° clockwise to show
    Image.new("RGB", (400, 300), (0, 0, 230)).save(folder / "phone.jpg", exif=exif)
    edit = write(folder, [{"path": "hdv.mp4", "in": 0, "out": 2}, {"path": "phone.jpg", "in": 0, "out": 2}],
                 "shapes.json")
    out = tmp_path / "shapes.mp4"
    score(edit, out, ScoreOptions(backend="procedural"))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)  # the first clip's shape
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    hdv, phone = frames[25], frames[75]

    def lit_columns(picture: np.ndarray) -> int:
        return int((picture.max(axis=(0, 2)) > 60).sum())

    assert lit_columns(hdv) >= 636  # fills the width: not squeezed to 480
    assert lit_columns(phone) == pytest.approx(270, abs=4) and phone[180, 320, 2] > 180  # 300x400 upright, blue


def test_the_preview_picture_takes_the_first_clips_shape_and_rate():
    from cotvtm_desktop.media.probe import MediaInfo
    from cotvtm_desktop.media.proxy import PictureFormat, picture_format
    from cotvtm_desktop.media.timeline import Clip

    def first(width: int, height: int, fps: float, kind: str = "video") -> PictureFormat:
        info = MediaInfo(Path("first.mp4"), kind, 10.0, width, height, 0, fps, "h264", True, 0.0)
        return picture_format([Clip(None, 0.0, 1.0, 0.0), Clip(info, 0.0, 5.0, 1.0)])

    assert first(1920, 1080, 23.976) == PictureFormat(640, 360, 24)
    assert first(1080, 1920, 29.97) == PictureFormat(360, 640, 30)  # a phone's upright video: not 202x360
    assert first(3840, 2160, 59.94) == PictureFormat(640, 360, 30)
    assert first(4000, 3000, 0.0, "image") == PictureFormat(480, 360, 25)


def test_a_source_that_cannot_make_the_picture_is_named(sources, tmp_path):
    """Damaged after it was read (a copy still being written, say): the message names it, not a work file."""
    from cotvtm_desktop.errors import BadMediaError
    from cotvtm_desktop.media.proxy import Piece, picture_format, render_piece
    from cotvtm_desktop.media.timeline import Clip

    folder, warm, _ = sources
    copy = tmp_path / "copy.mp4"
    shutil.copy(warm, copy)
    info = probe(copy)
    copy.write_bytes(b"no longer a video")
    with pytest.raises(BadMediaError) as caught:
        render_piece(Piece(info, 0.0, 25), picture_format([Clip(info, 0.0, 1.0, 0.0)]), tmp_path / "piece.mp4")
    assert str(caught.value).startswith(f"{copy}: no picture could be made from it (")


def test_an_interlaced_clip_shows_in_the_preview_without_combing(tmp_path):
    """A DVD's or a tape's interlaced clip in an edit: its fields become frames before the preview takes its rate
    from them (combing 1.0 in the source, 0.92 in a preview made as before, about 0.5 now)."""
    from cotvtm_desktop.media.proxy import Piece, picture_format, render_piece
    from cotvtm_desktop.media.timeline import Clip

    source = tmp_path / "dvd.mpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=60", "-t", "2", "-vf",
           "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-b:v", "8M",
           str(source))
    info = probe(source)
    assert info.interlaced and combing(source) > 0.9
    piece = tmp_path / "piece.mp4"
    render_piece(Piece(info, 0.0, 30), picture_format([Clip(info, 0.0, 2.0, 0.0)]), piece)
    assert streams(piece)["frame_size"] == (640, 360) and combing(piece) < 0.7


def test_a_timelines_music_ducks_under_its_clips_own_sound(sources, tmp_path):
    """As for a video: the music alone (for an editor's track) sits at its level in the mix with the clips' sound,
    ducked under it; the preview mp4 has both; --replace-audio leaves the clips' sound out of it."""
    folder, warm, _ = sources
    syllables = "(0.5+0.5*sin(2*PI*4*t))*(0.5+0.5*sin(2*PI*4*t))"  # a 3 kHz tone in syllables: someone talking
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i",
           f"aevalsrc=0.3*sin(2*PI*3000*t)*{syllables}:s=48000", "-t", "8", "-c:v", "libx264", "-c:a", "aac",
           str(folder / "talk.mp4"))
    edit = write(folder, [{"path": "talk.mp4", "in": 1, "out": 7}, {"path": "warm.mp4", "in": 0, "out": 4}],
                 "talk.json")
    ducked = score(edit, tmp_path / "ducked.wav", ScoreOptions(backend="procedural"))
    plain = score(edit, tmp_path / "plain.wav", ScoreOptions(backend="procedural", replace_audio=True))
    assert ducked["input"]["has_audio"] and "ducked under the original sound" in ducked["loudness"]["original_audio"]
    assert plain["loudness"]["original_audio"] == "replaced"
    music, rate = soundfile.read(tmp_path / "ducked.wav")
    assert share_at(music, 3000) < 0.001  # the music alone: no clip sound in it...
    first, second = lufs(music[:6 * rate]), lufs(music[6 * rate:])
    assert first < second - 6  # ...and ducked while talk.mp4 sounds, not under warm.mp4, which is silent
    assert lufs(soundfile.read(tmp_path / "plain.wav")[0][:6 * rate]) > first + 6

    score(edit, tmp_path / "preview.mp4", ScoreOptions(backend="procedural"))
    mixed = decode_audio(tmp_path / "preview.mp4")
    assert share_at(mixed[:6 * rate], 3000) > 0.3 and share_at(mixed[6 * rate:], 3000) < 0.001


def share_at(audio: np.ndarray, frequency: float, rate: int = 48000) -> float:
    """The share of the sound's power within 5 Hz of `frequency`: a clip's test tone, or the music's own."""
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1) * np.hanning(len(audio)))) ** 2
    frequencies = np.fft.rfftfreq(len(audio), 1 / rate)
    return float(spectrum[np.abs(frequencies - frequency) < 5].sum() / spectrum.sum())


def test_timeline_output_is_the_music_or_a_preview(sources, tmp_path):
    folder, warm, _ = sources
    edit = write(folder, [{"path": "warm.mp4", "in": 0, "out": 3}], "short.json")
    with pytest.raises(UserError, match="use .wav, .flac, .m4a, .mp4"):
        score(edit, tmp_path / "x.mov", ScoreOptions(backend="procedural"))
    score(edit, tmp_path / "x.flac", ScoreOptions(backend="procedural"))
    assert soundfile.info(tmp_path / "x.flac").duration == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize("clips, message", [
    ([], "at least one clip"),
    ([{"blank": 2}], "only gaps"),
    ([{"path": "warm.mp4", "in": 5, "out": 4}], "must satisfy 0 ≤ in < out"),
    ([{"path": "warm.mp4", "in": 0, "out": 30}], "its length (12 s)"),
    ([{"path": "gone.mp4", "in": 0, "out": 1}], "clip 1: "),
    ([{"blank": 1}, {"path": "gone.mp4", "in": 0, "out": 1}], "gone.mp4 is not found; put it back, or relink it"),
    ([{"path": "warm.mp4", "in": "0", "out": 1}], "expected seconds as a number"),
    ([{"in": 0, "out": 1}], "clip 1: no path"),
    ([{"blank": 0}], "more than 0 s"),
])
def test_bad_timelines_are_one_clear_error(sources, clips, message):
    folder, *_ = sources
    with pytest.raises(UserError, match=None) as caught:
        read_timeline(write(folder, clips, "bad.json"))
    assert message in str(caught.value)


def test_a_file_used_by_many_clips_is_probed_once(sources, monkeypatch):
    """An edit cuts a few files into many clips (probing one takes ~40 ms: 200 clips took 8 s to read)."""
    from cotvtm_desktop.media import timeline

    folder, warm, cool = sources
    probed = []
    monkeypatch.setattr(timeline, "probe", lambda path: probed.append(path) or probe(path))
    clips = read_timeline(write(folder, [{"path": "warm.mp4", "in": k, "out": k + 1} for k in range(10)] +
                                [{"path": str(cool), "in": 0, "out": 1}], "many.json"))
    assert len(clips) == 11 and sorted(p.name for p in probed) == ["cool.mp4", "warm.mp4"]


def test_a_clip_of_a_damaged_file_is_named_with_its_number(sources):
    folder, *_ = sources
    (folder / "damaged.mp4").write_bytes(b"not a video at all")
    edit = write(folder, [{"blank": 1}, {"path": "damaged.mp4", "in": 0, "out": 1}], "damaged.json")
    with pytest.raises(UserError) as caught:
        read_timeline(edit)
    assert str(caught.value).startswith(f"{edit}: clip 2: {folder / 'damaged.mp4'}: not a readable media file")


def test_the_manifest_never_overwrites_the_timeline_it_reads(sources, tmp_path):
    folder, warm, _ = sources
    edit = write(tmp_path, [{"path": str(warm), "in": 0, "out": 5}])
    before = edit.read_text()
    with pytest.raises(UserError, match="the manifest edit.json would overwrite the input"):
        score(edit, tmp_path / "edit.wav", ScoreOptions(backend="procedural"))  # edit.wav's manifest: edit.json
    assert edit.read_text() == before and not (tmp_path / "edit.wav").exists()


def test_a_still_image_needs_its_duration(sources):
    folder, *_ = sources
    from PIL import Image

    Image.new("RGB", (64, 48), (10, 200, 30)).save(folder / "still.png")
    with pytest.raises(UserError, match="needs in and out"):
        read_timeline(write(folder, [{"path": "still.png"}], "still.json"))
    clips = read_timeline(write(folder, [{"path": "still.png", "in": 0, "out": 2.5}], "still.json"))
    assert clips[0].duration == 2.5
