"""MLT projects (Shotcut, Kdenlive): reading the main video track, and a scored copy with a music track."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from media import streams
from PIL import Image

from cotvtm_desktop.cli import app
from cotvtm_desktop.editors.mlt import MUSIC_PLAYLIST, MUSIC_PRODUCER, read_project
from cotvtm_desktop.errors import UserError

PROJECTS = Path(__file__).parent / "data" / "projects"


def project_in(folder: Path, name: str) -> Path:
    path = folder / name
    shutil.copy(PROJECTS / name, path)
    return path


def test_shotcut_main_track_becomes_a_timeline(sources):
    project = read_project(project_in(sources, "shotcut.mlt"))
    assert project.fps == 25
    clips = project.timeline()["clips"]
    assert clips == [
        {"path": str(sources / "warm.mp4"), "in": 1.0, "out": 8.52},  # out is the last frame, inclusive
        {"blank": 1.0},
        {"blank": 0.52},  # a colour clip is a gap
        {"path": str(sources / "cool.mp4"), "in": 0.52, "out": 8.52},
    ]
    assert project.frames == 188 + 25 + 13 + 200


def test_kdenlive_nested_tracks_frames_and_ntsc_rates(sources):
    project = read_project(project_in(sources, "kdenlive.kdenlive"))
    assert project.fps == 30
    assert project.timeline()["clips"] == [
        {"blank": 0.5}, {"path": str(sources / "warm.mp4"), "in": 1.0, "out": 7.0},
        {"path": str(sources / "cool.mp4"), "in": 0.0, "out": 5.0}]  # the trailing blank plays nothing
    ntsc = (PROJECTS / "kdenlive.kdenlive").read_text().replace('frame_rate_num="30"', 'frame_rate_num="30000"') \
        .replace('frame_rate_den="1"', 'frame_rate_den="1001"')
    (sources / "ntsc.kdenlive").write_text(ntsc)
    assert read_project(sources / "ntsc.kdenlive").fps == Fraction(30000, 1001)


def test_project_score_writes_a_copy_with_the_music_track(sources):
    original = project_in(sources, "shotcut.mlt")
    before = original.read_bytes()
    result = CliRunner().invoke(app, ["project", "score", str(original), "--json-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["type"] == "project_done"
    assert original.read_bytes() == before  # the user's project is never written
    scored, music = sources / "shotcut.scored.mlt", sources / "shotcut.scored.wav"
    assert soundfile.info(music).duration == pytest.approx(426 / 25, abs=0.01)

    root = ET.parse(scored).getroot()
    producer = root.find(f"producer[@id='{MUSIC_PRODUCER}']")
    props = {p.get("name"): p.text for p in producer.findall("property")}
    assert props["resource"] == "shotcut.scored.wav" and props["length"] == "426"
    children = list(root)
    tractor = root.find("tractor")
    assert children.index(producer) < children.index(root.find(f"playlist[@id='{MUSIC_PLAYLIST}']")) < \
        children.index(tractor)  # defined before use
    entry = root.find(f"playlist[@id='{MUSIC_PLAYLIST}']/entry")
    assert (entry.get("producer"), entry.get("in"), entry.get("out")) == (MUSIC_PRODUCER, "0", "425")
    tracks = tractor.findall("track")
    assert [t.get("producer") for t in tracks][-1] == MUSIC_PLAYLIST and tracks[-1].get("hide") == "video"
    mix = {p.get("name"): p.text for p in tractor.find("transition[@id='cotvtm_mix']").findall("property")}
    assert mix == {"a_track": "0", "b_track": "4", "mlt_service": "mix", "always_active": "1", "sum": "1"}
    again = read_project(scored)  # still a valid project whose main track is unchanged
    assert again.timeline() == read_project(original).timeline()

    rerun = CliRunner().invoke(app, ["project", "score", str(original)], catch_exceptions=False)
    assert rerun.exit_code == 0 and "already exists" in rerun.output  # skipped, not overwritten


def test_project_score_with_stems_puts_each_part_on_a_track_of_its_own(sources, tmp_path):
    """--stems: the copy has a track per part (melody, chords, bass, pad, drums) instead of the one music track, each
    mixed in; summed, they are the music beside them."""
    import numpy as np

    original = project_in(sources, "shotcut.mlt")
    scored = tmp_path / "parts.mlt"
    result = CliRunner().invoke(app, ["project", "score", str(original), "-o", str(scored), "--stems"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    root = ET.parse(scored).getroot()
    parts = ["melody", "chords", "bass", "pad", "drums"]
    resources = [root.find(f"producer[@id='{MUSIC_PRODUCER}_{part}']/property[@name='resource']").text
                 for part in parts]
    assert resources == [str(tmp_path / "parts.stems" / f"{part}.wav") for part in parts]  # the copy is elsewhere
    assert root.find(f"producer[@id='{MUSIC_PRODUCER}']") is None  # the stems stand for the music
    tractor = root.find("tractor")
    assert [t.get("producer") for t in tractor.findall("track")][-5:] == [f"{MUSIC_PLAYLIST}_{p}" for p in parts]
    mixes = [{p.get("name"): p.text for p in tractor.find(f"transition[@id='cotvtm_mix_{part}']")}
             for part in parts]
    assert [m["b_track"] for m in mixes] == ["4", "5", "6", "7", "8"] and all(m["a_track"] == "0" for m in mixes)
    assert read_project(scored).timeline() == read_project(original).timeline()
    music, _ = soundfile.read(tmp_path / "parts.wav")
    together = sum(soundfile.read(tmp_path / "parts.stems" / f"{part}.wav")[0] for part in parts)
    assert np.mean(np.abs(together - music).max(axis=1) < 1e-3) > 0.99


def test_a_moved_clip_names_the_project_the_clip_and_the_file(sources, tmp_path):
    project = tmp_path / "edit.kdenlive"  # its clips are warm.mp4 and cool.mp4 beside it: not there
    shutil.copy(PROJECTS / "kdenlive.kdenlive", project)
    result = CliRunner().invoke(app, ["project", "score", str(project)])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and f"{project}: clip 2: {tmp_path / 'warm.mp4'} is not found" in said
    assert "relink it in your editor" in said and "Traceback" not in result.output


@pytest.mark.parametrize("content, message", [
    ("not xml at all", "not a readable MLT project"),
    ("<project/>", "not an MLT project"),
    ('<mlt><profile frame_rate_num="25" frame_rate_den="1"/></mlt>', "no timeline"),
    ('<mlt><profile frame_rate_num="25" frame_rate_den="1"/><playlist id="p"><blank length="10"/></playlist>'
     '<tractor id="t"><track producer="p"/></tractor></mlt>', "no video track with clips"),
    ('<mlt><tractor id="t"/></mlt>', "no <profile> with a frame rate"),
])
def test_unusable_projects_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "edit.mlt"
    path.write_text(content)
    with pytest.raises(UserError) as caught:
        read_project(path)
    assert message in str(caught.value) and "edit.mlt" in str(caught.value)


def test_score_and_inspect_take_a_project_as_its_timeline(sources, tmp_path):
    """What the desktop app asks of a project: its length and pictures, and its music alone (preview)."""
    project = project_in(sources, "kdenlive.kdenlive")  # a 0.5 s gap, warm.mp4 1-7 s, cool.mp4 0-5 s
    result = CliRunner().invoke(app, ["inspect", str(project), "--thumbnails", str(tmp_path / "th"),
                                      "--at", "0.2", "--at", "3", "--at", "9"], catch_exceptions=False)
    event = json.loads(result.stdout)
    assert (event["kind"], event["duration"], event["has_audio"]) == ("timeline", 11.5, False)
    gap, warm, cool = [np.asarray(Image.open(t["path"]), float).mean(axis=(0, 1)) for t in event["thumbnails"]]
    assert gap.max() < 10  # black: nothing shows in a gap
    assert warm[0] > 150 > warm[2] and cool[2] > cool[0]  # warm.mp4's orange at 3.5 s, cool.mp4's navy

    music = tmp_path / "preview.m4a"
    result = CliRunner().invoke(app, ["score", str(project), "-o", str(music)], catch_exceptions=False)
    assert result.exit_code == 0 and "project score" in " ".join(result.output.split())
    assert streams(music)["video"] is None and streams(music)["duration"] == pytest.approx(11.5, abs=0.05)
    assert json.loads(music.with_suffix(".json").read_text())["input"]["kind"] == "timeline"


def test_project_score_reuses_a_work_folder_and_takes_segment_edits(sources, tmp_path):
    project = project_in(sources, "kdenlive.kdenlive")
    work, edits, target = tmp_path / "work", tmp_path / "edits.json", tmp_path / "out" / "trip.kdenlive"
    edits.write_text('{"segments": {}}')
    args = ["project", "score", str(project), "-o", str(target), "--work", str(work), "--segments", str(edits),
            "--segment-seconds", "4", "--overwrite"]
    assert CliRunner().invoke(app, args, catch_exceptions=False).exit_code == 0
    first = {p.name: soundfile.read(p)[0] for p in work.glob("segment-*.flac")}
    assert len(first) >= 2
    edits.write_text('{"segments": {"2": {"seed": 99}}}')  # new music for segment 2 alone
    assert CliRunner().invoke(app, args, catch_exceptions=False).exit_code == 0
    second = {p.name: soundfile.read(p)[0] for p in work.glob("segment-*.flac")}
    new = sorted(set(second) - set(first))
    assert [name.split("-")[1] for name in new] == ["0001"]
    assert read_project(target).timeline() == read_project(project).timeline()  # written elsewhere, same clips
    root = ET.parse(target).getroot()
    music = root.find(f"producer[@id='{MUSIC_PRODUCER}']/property[@name='resource']").text
    assert (Path(root.get("root")) / music).resolve() == target.with_suffix(".wav").resolve()
    assert soundfile.info(target.with_suffix(".wav")).duration == pytest.approx(11.5, abs=0.01)
