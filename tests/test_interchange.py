"""Interchange timelines through OpenTimelineIO (.otio, FCP 7 .xml from Premiere Pro or Resolve): the main video
track as a timeline input, and a scored copy with a music track, in the same format or the other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest
import soundfile
from click.testing import CliRunner
from opentimelineio.opentime import RationalTime, TimeRange

from cotvtm_desktop.cli import app
from cotvtm_desktop.editors.interchange import MUSIC_TRACK, read_project
from cotvtm_desktop.errors import UserError

PROJECTS = Path(__file__).parent / "data" / "projects"
RATE = 25
CAMERA_START = 90000  # frames: the media time of a camera file starting at timecode 01:00:00:00


def frames(count: int, at: int = 0, rate: float = RATE) -> TimeRange:
    return TimeRange(RationalTime(at, rate), RationalTime(count, rate))


def clip(path: Path, first: int, count: int, media_start: int = 0, media_frames: int = 200,
         rate: float = RATE) -> otio.schema.Clip:
    reference = otio.schema.ExternalReference(target_url=path.as_uri(),
                                              available_range=frames(media_frames, media_start, rate))
    return otio.schema.Clip(name=path.name, media_reference=reference,
                            source_range=frames(count, media_start + first, rate))


def edit(sources: Path, rate: float = RATE) -> otio.schema.Timeline:
    """Titles above; below, the main track: warm.mp4 from 1 s for 4 s, a gap, cool.mp4 (timecode 01:00:00:00) from
    0.48 s for 3 s, and a trailing gap (in frames of 25 fps; at another rate, the same frame counts)."""
    timeline = otio.schema.Timeline(name="trip")
    timeline.global_start_time = RationalTime(CAMERA_START, rate)
    main = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    main.append(clip(sources / "warm.mp4", 25, 100, rate=rate))
    main.append(otio.schema.Gap(source_range=frames(15, rate=rate)))
    main.append(clip(sources / "cool.mp4", 12, 75, media_start=CAMERA_START, media_frames=200, rate=rate))
    main.append(otio.schema.Gap(source_range=frames(50, rate=rate)))
    titles = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    titles.append(otio.schema.Gap(source_range=frames(30, rate=rate)))
    timeline.tracks.extend([main, titles])
    return timeline


MAIN_TRACK = [
    {"path": "warm.mp4", "in": 1.0, "out": 5.0},
    {"blank": 0.6},
    {"path": "cool.mp4", "in": 0.48, "out": 3.48},  # counted from the file's timecode start
]


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def written(sources: Path, name: str) -> Path:
    path = sources / name
    otio.adapters.write_to_file(edit(sources), str(path))
    return path


@pytest.mark.parametrize("name", ["trip.otio", "trip.xml"])
def test_main_track_becomes_a_timeline(sources, name):
    project = read_project(written(sources, name))
    entries = project.timeline()["clips"]
    assert [{**e, "path": Path(e["path"]).name} if "path" in e else e for e in entries] == [
        {k: pytest.approx(v) if isinstance(v, float) else v for k, v in e.items()} for e in MAIN_TRACK]
    assert project.duration.to_seconds() == pytest.approx(4 + 0.6 + 3)  # the trailing gap plays nothing


def test_a_sequence_as_premiere_pro_exports_it(sources, tmp_path):
    """Not written by OpenTimelineIO: escaped file URLs on localhost, a camera file starting at 01:00:00:00."""
    shutil.copy(sources / "warm.mp4", tmp_path / "warm day.mp4")
    shutil.copy(sources / "cool.mp4", tmp_path / "cool.mp4")
    path = tmp_path / "Holiday.xml"
    path.write_text((PROJECTS / "premiere.xml").read_text().replace("{SOURCES}", str(tmp_path)))
    project = read_project(path)
    assert project.timeline()["clips"] == [{"path": str(tmp_path / "warm day.mp4"), "in": 1.0, "out": 3.0},
                                           {"blank": 0.6}, {"path": str(tmp_path / "cool.mp4"), "in": 0.48,
                                                            "out": 2.48}]
    result = CliRunner().invoke(app, ["project", "score", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert soundfile.info(tmp_path / "Holiday.scored.wav").duration == pytest.approx(4.6, abs=0.01)
    copy = otio.adapters.read_from_file(str(tmp_path / "Holiday.scored.xml"))
    assert [c.name for t in copy.audio_tracks() for c in t] == ["warm day.mp4", "Holiday.scored.wav"]


@pytest.mark.parametrize("rate", [24000 / 1001, 24, 30000 / 1001, 30, 50, 60000 / 1001, 60])
def test_fcp_xml_keeps_every_frame_at_the_usual_rates(sources, rate):
    path = sources / f"at {rate:.3f}.xml"
    otio.adapters.write_to_file(edit(sources, rate), str(path))
    project = read_project(path)
    assert [{k: v for k, v in e.items() if k != "path"} for e in project.timeline()["clips"]] == [
        {"in": pytest.approx(25 / rate), "out": pytest.approx(125 / rate)}, {"blank": pytest.approx(15 / rate)},
        {"in": pytest.approx(12 / rate), "out": pytest.approx(87 / rate)}]
    assert project.duration.to_frames() == 190 and project.duration.rate == pytest.approx(rate)


@pytest.mark.parametrize("name", ["otio trip.otio", "premiere trip.xml"])
def test_project_score_writes_a_copy_with_the_music_track(sources, name):
    original = written(sources, name)
    scored_name = name.replace(".", ".scored.")
    before = original.read_bytes()
    result = CliRunner().invoke(app, ["project", "score", str(original), "--json-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["type"] == "project_done"
    assert original.read_bytes() == before  # the user's timeline is never written
    scored, music = sources / scored_name, sources / scored_name.replace(Path(name).suffix, ".wav")
    assert soundfile.info(music).duration == pytest.approx(7.6, abs=0.01)

    timeline = otio.adapters.read_from_file(str(scored))
    [track] = timeline.audio_tracks()
    [music_clip] = list(track)
    assert Path(otio.url_utils.filepath_from_url(music_clip.media_reference.target_url)) == music.resolve()
    assert music_clip.source_range == frames(190)  # from the main track's start to its last clip's end
    assert read_project(scored).timeline() == read_project(original).timeline()  # the main track is unchanged
    if name.endswith(".otio"):
        assert track.name == MUSIC_TRACK

    rerun = CliRunner().invoke(app, ["project", "score", str(original)], catch_exceptions=False)
    assert rerun.exit_code == 0 and "already exists" in said(rerun)  # skipped, not overwritten


@pytest.mark.parametrize("copy_name", ["copy.otio", "copy.xml"])
def test_a_copy_written_elsewhere_still_finds_files_named_relative_to_the_original(sources, tmp_path, copy_name):
    timeline = edit(sources)
    for clip_with_file in timeline.find_clips():
        reference = clip_with_file.media_reference
        reference.target_url = Path(otio.url_utils.filepath_from_url(reference.target_url)).name  # "warm.mp4"
    original = sources / "relative trip.otio"
    otio.adapters.write_to_file(timeline, str(original))
    copy = tmp_path / "elsewhere" / copy_name
    result = CliRunner().invoke(app, ["project", "score", str(original), "-o", str(copy)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert read_project(copy).timeline() == read_project(original).timeline()
    assert read_project(original).timeline()["clips"][0]["path"] == str(sources / "warm.mp4")


def test_project_score_with_stems_gives_each_part_a_track(sources):
    original = written(sources, "resolve.xml")
    result = CliRunner().invoke(app, ["project", "score", str(original), "-o", str(sources / "parts.otio"),
                                      "--stems"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    timeline = otio.adapters.read_from_file(str(sources / "parts.otio"))
    parts = ["melody", "chords", "bass", "pad", "drums"]
    assert [t.name for t in timeline.audio_tracks()] == [f"Music: {part} (cotvtm)" for part in parts]
    files = [Path(otio.url_utils.filepath_from_url(list(t)[0].media_reference.target_url))
             for t in timeline.audio_tracks()]
    assert files == [(sources / "parts.stems" / f"{part}.wav").resolve() for part in parts]
    assert all(f.exists() for f in files)


def test_a_copy_in_the_other_format(sources):
    original = written(sources, "resolve.xml")
    result = CliRunner().invoke(app, ["project", "score", str(original), "-o", str(sources / "for otio.otio")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    converted = otio.adapters.read_from_file(str(sources / "for otio.otio"))
    assert [t.name for t in converted.audio_tracks()] == [MUSIC_TRACK]
    assert soundfile.info(sources / "for otio.wav").duration == pytest.approx(7.6, abs=0.01)
    bare = otio.schema.Timeline(name="bare")  # an .otio may leave out the files' lengths, which FCP 7 XML needs
    bare.tracks.append(otio.schema.Track(kind=otio.schema.TrackKind.Video))
    bare.video_tracks()[0].append(otio.schema.Clip(
        name="warm", media_reference=otio.schema.ExternalReference(target_url="warm.mp4"), source_range=frames(50)))
    otio.adapters.write_to_file(bare, str(sources / "bare.otio"))
    result = CliRunner().invoke(app, ["project", "score", str(sources / "bare.otio"), "-o",
                                      str(sources / "bare for premiere.xml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    premiere = otio.adapters.read_from_file(str(sources / "bare for premiere.xml"))
    assert premiere.video_tracks()[0][0].media_reference.available_range.duration.to_seconds() == 12.0
    result = CliRunner().invoke(app, ["project", "score", str(original), "-o", str(sources / "x.fcpxml")])
    assert result.exit_code == 1 and "write the new project as .otio or .xml" in said(result)


def test_transitions_offline_and_missing_clips(tmp_path, sources):
    """A dissolve takes no time (the cut is where the clips meet); a generated or offline clip is a gap; a clip
    whose file is gone is named."""
    timeline = edit(sources)
    main = timeline.video_tracks()[0]
    main.insert(1, otio.schema.Transition(in_offset=RationalTime(5, RATE), out_offset=RationalTime(5, RATE)))
    main.insert(2, otio.schema.Clip(name="generated", media_reference=otio.schema.GeneratorReference(),
                                    source_range=frames(10)))
    main.insert(3, otio.schema.Clip(name="offline", media_reference=otio.schema.MissingReference(),
                                    source_range=frames(5)))
    otio.adapters.write_to_file(timeline, str(tmp_path / "offline.otio"))
    project = read_project(tmp_path / "offline.otio")
    assert project.timeline()["clips"][:4] == [
        {"path": str(sources / "warm.mp4"), "in": 1.0, "out": 5.0}, {"blank": 0.4}, {"blank": 0.2}, {"blank": 0.6}]
    assert project.duration == RationalTime(205, RATE)
    main.append(clip(tmp_path / "moved away.mp4", 0, 25))
    otio.adapters.write_to_file(timeline, str(tmp_path / "moved.otio"))
    with pytest.raises(UserError, match="moved away.mp4.*not found; relink it in your editor") as caught:
        read_project(tmp_path / "moved.otio")
    assert "moved.otio" in str(caught.value)


def test_score_makes_a_projects_music_alone_and_names_project_score(sources, tmp_path):
    from cotvtm_desktop import config
    from cotvtm_desktop.editors import PROJECT_SUFFIXES

    assert set(PROJECT_SUFFIXES) == set(config.PROJECT_EXTENSIONS)
    result = CliRunner().invoke(app, ["score", str(written(sources, "music only.xml"))])
    assert result.exit_code == 0 and "`cotvtm project score music only.xml` writes a copy" in said(result)
    assert soundfile.info(sources / "music only.scored.wav").duration == pytest.approx(7.6, abs=0.01)
    assert not (sources / "music only.scored.xml").exists()
    nested = tmp_path / "edit.json"  # a project is no clip of a timeline
    nested.write_text(json.dumps({"clips": [{"path": str(sources / "music only.xml")}]}))
    result = CliRunner().invoke(app, ["score", str(nested)])
    assert result.exit_code == 1 and "an editor project, not a video" in said(result)


def test_unusable_timelines_are_one_clear_error(tmp_path, sources):
    garbage = tmp_path / "edit.xml"
    garbage.write_text("<xmeml version='4'><sequence><media><video><track><clipitem")
    with pytest.raises(UserError, match="not a readable FCP 7 XML timeline") as caught:
        read_project(garbage)
    assert "edit.xml" in str(caught.value)
    titles_only = otio.schema.Timeline(name="titles")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(source_range=frames(25)))
    titles_only.tracks.append(track)
    otio.adapters.write_to_file(titles_only, str(tmp_path / "titles.otio"))
    with pytest.raises(UserError, match="no video track with a clip of a media file"):
        read_project(tmp_path / "titles.otio")
    result = CliRunner().invoke(app, ["project", "score", str(tmp_path / "edit.prproj")])  # Premiere's own
    assert result.exit_code == 1 and "not an editor project this can read" in said(result)
    result = CliRunner().invoke(app, ["project", "score", str(tmp_path / "missing.otio")])
    assert result.exit_code == 1 and "project not found" in said(result) and "Traceback" not in result.output


def test_a_full_disk_while_writing_the_copy_is_one_message(sources, monkeypatch):
    import errno

    def full(timeline, path, **kwargs):
        Path(path).write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device", path)

    original = written(sources, "full disk.otio")
    monkeypatch.setattr(otio.adapters, "write_to_file", full)
    result = CliRunner().invoke(app, ["project", "score", str(original), "--stems"])
    assert result.exit_code == 1 and "the disk is full" in said(result) and "Traceback" not in result.output
    assert not [p for p in sources.iterdir() if p.name.startswith(("full disk.scored", ".full disk"))]  # nor music,
    # nor its stems


# An EDL as Premiere Pro and Resolve export it: file names in comments, a black gap, picture and sound as events of
# their own, record timecode from 01:00:00:00; the same edit as MAIN_TRACK, cool.mp4 here a camera's cam.mov
HOLIDAY_EDL = """TITLE: Holiday
FCM: NON-DROP FRAME

001  AX       AA/V  C        00:00:01:00 00:00:05:00 01:00:00:00 01:00:04:00
* FROM CLIP NAME: warm.mp4

002  BL       V     C        00:00:00:00 00:00:00:15 01:00:04:00 01:00:04:15

003  AX       V     C        01:00:00:12 01:00:03:12 01:00:04:15 01:00:07:15
* FROM CLIP NAME: cam.mov

004  AX       AA    C        01:00:00:12 01:00:03:12 01:00:04:15 01:00:07:15
* FROM CLIP NAME: cam.mov
"""


@pytest.fixture
def edl_folder(tmp_path, sources) -> Path:
    """Holiday.edl with its media in a folder below it; cam.mov is cool.mp4 with a camera's timecode."""
    from media import ffmpeg

    media = tmp_path / "Media" / "Day 1"
    media.mkdir(parents=True)
    shutil.copy(sources / "warm.mp4", media / "warm.mp4")
    ffmpeg("-i", str(sources / "cool.mp4"), "-c", "copy", "-timecode", "01:00:00:00", str(media / "cam.mov"))
    (tmp_path / "Holiday.edl").write_text(HOLIDAY_EDL)
    return tmp_path


def test_an_edl_finds_its_clips_files_by_name_and_counts_from_their_timecode(edl_folder):
    media = edl_folder / "Media" / "Day 1"
    project = read_project(edl_folder / "Holiday.edl")
    assert project.timeline()["clips"] == [
        {"path": str(media / "warm.mp4"), "in": 1.0, "out": 5.0}, {"blank": 0.6},
        {"path": str(media / "cam.mov"), "in": pytest.approx(0.48), "out": pytest.approx(3.48)}]
    assert project.duration.to_seconds() == pytest.approx(7.6)


def test_project_score_of_an_edl_writes_an_fcp_xml_copy_with_the_music(edl_folder):
    edl = edl_folder / "Holiday.edl"
    result = CliRunner().invoke(app, ["project", "score", str(edl)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scored, music = edl_folder / "Holiday.scored.xml", edl_folder / "Holiday.scored.wav"
    assert soundfile.info(music).duration == pytest.approx(7.6, abs=0.01)
    assert read_project(scored).timeline() == read_project(edl).timeline()  # the same edit, as FCP 7 XML
    copy = otio.adapters.read_from_file(str(scored))
    assert [c.name for c in copy.audio_tracks()[-1]] == ["Holiday.scored.wav"]
    assert copy.global_start_time == RationalTime(CAMERA_START, RATE)  # the record timecode kept
    result = CliRunner().invoke(app, ["project", "score", str(edl), "-o", str(edl_folder / "again.edl")])
    assert result.exit_code == 1 and "write the new project as .otio or .xml" in said(result)


def test_an_edl_naming_files_where_another_computer_kept_them_finds_them_here_by_name(edl_folder):
    """Avid and Vegas write the file's path ("FROM FILE"), as it was on the editing machine, Windows' included."""
    media = edl_folder / "Media" / "Day 1"
    edl = edl_folder / "moved.edl"
    edl.write_text("TITLE: Moved\nFCM: NON-DROP FRAME\n\n"
                   "001  AX       V     C        00:00:01:00 00:00:02:00 01:00:00:00 01:00:01:00\n"
                   "* FROM FILE: C:\\Edits\\Holiday\\warm.mp4\n\n"
                   "002  AX       V     C        01:00:00:00 01:00:01:00 01:00:01:00 01:00:02:00\n"
                   "* FROM FILE: /Volumes/Card/cam.mov\n")
    assert [e["path"] for e in read_project(edl).timeline()["clips"]] == [str(media / "warm.mp4"),
                                                                           str(media / "cam.mov")]


def test_an_edl_takes_its_frame_rate_from_its_media(tmp_path):
    from media import make_video

    make_video(tmp_path / "ntsc.mp4", 6, rate="30000/1001", audio=False)
    (tmp_path / "cut.edl").write_text("TITLE: Cut\nFCM: NON-DROP FRAME\n\n"
                                      "001  AX       V     C        00:00:01:15 00:00:03:29 01:00:00:00 01:00:02:14\n"
                                      "* FROM CLIP NAME: ntsc.mp4\n")
    [entry] = read_project(tmp_path / "cut.edl").timeline()["clips"]
    assert entry["in"] == pytest.approx(45 * 1001 / 30000) and entry["out"] == pytest.approx(119 * 1001 / 30000)


def test_an_edl_whose_files_are_not_found_says_which_and_where_to_put_them(edl_folder):
    edl = edl_folder / "Holiday.edl"
    (edl_folder / "Media" / "Day 1" / "cam.mov").unlink()
    with pytest.raises(UserError, match="clip 'cam.mov': no file of that name beside the EDL or in the folders"):
        read_project(edl)
    shutil.rmtree(edl_folder / "Media")
    result = CliRunner().invoke(app, ["score", str(edl)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "none of the EDL's clips has a file beside it" in said(result) and "Holiday.edl" in said(result)
