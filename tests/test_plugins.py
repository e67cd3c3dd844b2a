"""Editor plugins outside their editors: Blender's add-on on a fake `bpy`, Resolve's script on a fake Resolve API,
both driving the real `cotvtm` CLI as a child process on tiny synthetic videos."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
import types
import zipfile
from pathlib import Path

import fake_bpy
import pytest
import soundfile
from media import make_two_shot_video

from cotvtm_desktop import config

REPO = Path(__file__).parent.parent
CLI = [sys.executable, "-m", "cotvtm_desktop"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    return (make_two_shot_video(folder / "warm.mp4", "orange", "yellow", 6.0, 12.0),
            make_two_shot_video(folder / "cool.mp4", "navy", "navy", 4.0, 8.0))


@pytest.fixture
def cotvtm_program(tmp_path) -> str:
    """A `cotvtm` executable for the plugins to find: this checkout's CLI."""
    program = tmp_path / "bin" / "cotvtm"
    program.parent.mkdir()
    program.write_text(f"#!/bin/sh\nexec {sys.executable} -m cotvtm_desktop \"$@\"\n")
    program.chmod(0o755)
    return str(program)


@pytest.fixture
def addon(tmp_path, monkeypatch):
    """The add-on as Blender installs it: from the zip that build_zip.py makes."""
    sys.path.insert(0, str(REPO / "plugin" / "blender"))
    import build_zip

    sys.path.remove(str(REPO / "plugin" / "blender"))
    archive = build_zip.build(tmp_path / "dist")
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == ["cotvtm_blender/__init__.py", "cotvtm_blender/cotvtm_child.py"]
        opened.extractall(tmp_path / "addons")
    fake_bpy.install(str(tmp_path / "edit.blend"))
    monkeypatch.syspath_prepend(str(tmp_path / "addons"))
    for name in [m for m in sys.modules if m.startswith("cotvtm_blender")]:
        del sys.modules[name]
    module = importlib.import_module("cotvtm_blender")
    yield module
    del sys.modules["bpy"], sys.modules["bpy.props"]


def run_modal(operator, context, timeout: float = 120, cancel_after_progress: bool = False) -> set:
    event = types.SimpleNamespace(type="TIMER")
    end = time.time() + timeout
    while time.time() < end:
        if cancel_after_progress and operator.job.fraction > 0:
            operator.modal(context, types.SimpleNamespace(type="ESC"))
            cancel_after_progress = False
        result = operator.modal(context, event)
        if result != {"RUNNING_MODAL"}:
            return result
        time.sleep(0.05)
    raise TimeoutError("the operator did not finish")


def test_blender_addon_registers_and_flattens_the_edit(addon):
    bpy = sys.modules["bpy"]
    addon.register()
    assert len(bpy.registered) == 4 and bpy.types.Scene.cotvtm is None  # a PointerProperty
    addon.unregister()
    S = fake_bpy.Strip
    base = S("base", "MOVIE", 1, 1, 201, "/v/a.mp4", frame_offset_start=25)
    overlay = S("title", "MOVIE", 3, 51, 101, "/v/b.mp4")
    muted = S("muted", "MOVIE", 5, 1, 300, "/v/c.mp4", mute=True)
    sound = S("a.mp4 sound", "SOUND", 2, 1, 201, "/v/a.mp4")
    clips = addon.flatten([base, overlay, muted, sound], 1, 251, 25.0)
    assert clips == [{"path": "/v/a.mp4", "in": 1.0, "out": 3.0}, {"path": "/v/b.mp4", "in": 0.0, "out": 2.0},
                     {"path": "/v/a.mp4", "in": 5.0, "out": 9.0}, {"blank": 2.0}]
    assert addon.free_channel([base, overlay, sound], 1, 251) == 4


@pytest.mark.parametrize("blender5", [False, True])
def test_blender_score_timeline_adds_a_sound_strip_on_a_free_channel(addon, videos, cotvtm_program, blender5):
    warm, cool = videos
    S = fake_bpy.Strip
    strips = [S("warm", "MOVIE", 1, 1, 176, str(warm), frame_offset_start=25),  # 7 s from 1 s into warm.mp4
              S("warm sound", "SOUND", 2, 1, 176, str(warm)),
              S("cool", "MOVIE", 1, 201, 351, str(cool))]  # a 1 s gap, then 6 s of cool.mp4
    context = fake_bpy.context(strips, blender5, frame_start=1, frame_end=350, executable=cotvtm_program)
    context.scene.cotvtm.keep_original = False
    context.scene.cotvtm.genre = "lo-fi_jazz"
    context.scene.cotvtm.lead = "french_horn"
    context.scene.cotvtm.chords = "pizzicato_strings"
    context.scene.cotvtm.bass = "fretless_bass"
    context.scene.cotvtm.parts = {"melody", "chords", "bass"}  # the pad and the drums switched off
    context.scene.cotvtm.energy = -0.5
    operator = addon.COTVTM_OT_score()
    operator.what = "TIMELINE"
    assert operator.invoke(context, None) == {"RUNNING_MODAL"}
    args = operator.job.process.args
    assert args[args.index("--genre") + 1] == "lo-fi jazz" and args[args.index("--lead") + 1] == "french horn"
    assert args[args.index("--chords") + 1] == "pizzicato strings" and args[args.index("--bass") + 1] == "fretless bass"
    assert [args[k + 1] for k, arg in enumerate(args) if arg == "--without"] == ["pad", "drums"]
    assert args[args.index("--energy") + 1] == "-0.5"
    assert context.window_manager.handlers == [operator]
    assert run_modal(operator, context) == {"FINISHED"}, context.scene.cotvtm.status
    editor = context.scene.sequence_editor
    [added] = editor.collection.added
    assert added["channel"] == 3 and added["frame_start"] == 1 and added["name"] == "cotvtm music"
    audio, rate = soundfile.read(added["filepath"])
    assert len(audio) / rate == pytest.approx(350 / 25, abs=0.02)
    assert Path(added["filepath"]).parent.name == "cotvtm"  # beside the .blend
    assert strips[1].mute and context.scene.cotvtm.status == "Music added on channel 3"
    assert "--replace-audio" in operator.job.process.args  # muted: the music need not duck under the clips' sound
    work = Path(added["filepath"]).parent / ".cotvtm-work" / "Scene"
    kept = {p.name: p.stat().st_mtime_ns for p in work.glob("*")}
    assert any(name.startswith("segment-") for name in kept) and any(name.startswith("analysis-") for name in kept)
    again = addon.COTVTM_OT_score()  # scored again, nothing changed: measured and rendered before, so reused
    again.what = "TIMELINE"
    assert again.invoke(context, None) == {"RUNNING_MODAL"} and run_modal(again, context) == {"FINISHED"}
    assert {p.name: p.stat().st_mtime_ns for p in work.glob("segment-*")} == {
        name: mtime for name, mtime in kept.items() if name.startswith("segment-")}
    assert not context.window_manager.timers


def test_blender_puts_the_musics_parts_on_a_strip_each(addon, videos, cotvtm_program, tmp_path):
    """"A strip per part": --stems, then the five parts on consecutive free channels from the range's start; the
    preferences' soundfont plays them."""
    warm, _ = videos
    strips = [fake_bpy.Strip("warm", "MOVIE", 1, 1, 151, str(warm)), fake_bpy.Strip("sound", "SOUND", 2, 1, 151,
                                                                                    str(warm))]
    font = tmp_path / "my font.sf2"
    shutil.copy(config.soundfont_path(), font)
    context = fake_bpy.context(strips, True, frame_start=1, frame_end=150, executable=cotvtm_program,
                               soundfont=str(font))
    context.scene.cotvtm.stems = True
    operator = addon.COTVTM_OT_score()
    operator.what = "TIMELINE"
    assert operator.invoke(context, None) == {"RUNNING_MODAL"} and "--stems" in operator.job.process.args
    assert run_modal(operator, context) == {"FINISHED"}, context.scene.cotvtm.status
    assert json.loads(operator.output.with_suffix(".json").read_text())["runs_on"].endswith("my font.sf2")
    added = context.scene.sequence_editor.collection.added
    parts = ["melody", "chords", "bass", "pad", "drums"]
    assert [(a["name"], a["channel"], a["frame_start"]) for a in added] == [
        (f"cotvtm {part}", 3 + k, 1) for k, part in enumerate(parts)]
    assert [Path(a["filepath"]).name for a in added] == [f"{part}.wav" for part in parts]
    assert all(Path(a["filepath"]).exists() for a in added) and not strips[1].mute  # its sound kept
    assert context.scene.cotvtm.status == "The music's parts added on channels 3-7"


def test_blender_score_strip_cancel_and_errors(addon, videos, cotvtm_program, tmp_path):
    warm, _ = videos
    strip = fake_bpy.Strip("warm", "MOVIE", 2, 10, 310, str(warm))
    context = fake_bpy.context([strip], True, active=strip, executable=cotvtm_program)
    operator = addon.COTVTM_OT_score()
    operator.what = "STRIP"
    assert operator.invoke(context, None) == {"RUNNING_MODAL"}
    assert run_modal(operator, context, cancel_after_progress=True) == {"CANCELLED"}
    assert "cancelled" in context.scene.cotvtm.status and not context.scene.sequence_editor.collection.added
    assert not operator.output.exists()

    context = fake_bpy.context([], True, executable=cotvtm_program)
    operator = addon.COTVTM_OT_score()
    operator.what = "STRIP"
    assert operator.invoke(context, None) == {"CANCELLED"}
    assert "Select a movie or image strip" in operator.reports[0][1]

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    bad = fake_bpy.Strip("bad", "MOVIE", 1, 1, 100, str(broken))
    context = fake_bpy.context([bad], True, active=bad, executable=cotvtm_program)
    operator = addon.COTVTM_OT_score()
    operator.what = "STRIP"
    operator.invoke(context, None)
    assert run_modal(operator, context) == {"CANCELLED"}
    assert "broken.mp4" in context.scene.cotvtm.status and "not a readable media file" in operator.reports[0][1]

    context = fake_bpy.context([strip], True, active=strip, executable=str(tmp_path / "nowhere" / "cotvtm"))
    operator = addon.COTVTM_OT_score()
    operator.what = "STRIP"
    assert operator.invoke(context, None) == {"CANCELLED"}
    assert "cannot find the cotvtm program" in operator.reports[0][1]


# --- DaVinci Resolve -------------------------------------------------------------------------------------------
class FakeMediaPoolItem:
    def __init__(self, path: str):
        self.path = path

    def GetClipProperty(self, name: str) -> str:
        return {"File Path": self.path}[name]


class FakeTimelineItem:
    def __init__(self, path: str, start: int, end: int, source_first: int):
        self.media, self.start, self.end, self.source_first = FakeMediaPoolItem(path), start, end, source_first

    def GetMediaPoolItem(self):
        return self.media

    def GetStart(self):
        return self.start

    def GetEnd(self):
        return self.end

    def GetLeftOffset(self):
        return self.source_first


class FakeTimeline:
    def __init__(self, tracks: dict[int, list[FakeTimelineItem]], fps: str = "25"):
        self.tracks, self.fps, self.audio_tracks, self.calls = tracks, fps, 1, []

    def GetName(self):
        return "Holiday cut"

    def GetSetting(self, name):
        return {"timelineFrameRate": self.fps}[name]

    def GetTrackCount(self, kind):
        return len(self.tracks) if kind == "video" else self.audio_tracks

    def GetItemListInTrack(self, kind, index):
        return self.tracks.get(index, [])

    def AddTrack(self, kind, sub_type):
        self.calls.append(("AddTrack", kind, sub_type))
        self.audio_tracks += 1
        return True


class FakeMediaPool:
    def __init__(self):
        self.imported, self.appended = [], []

    def ImportMedia(self, paths):
        self.imported += paths
        return [FakeMediaPoolItem(p) for p in paths]

    def AppendToTimeline(self, clips):
        self.appended += clips
        return [object()]


def fake_resolve(timeline):
    pool = FakeMediaPool()
    project = types.SimpleNamespace(GetCurrentTimeline=lambda: timeline, GetMediaPool=lambda: pool)
    manager = types.SimpleNamespace(GetCurrentProject=lambda: project)
    return types.SimpleNamespace(GetProjectManager=lambda: manager), pool


@pytest.fixture
def resolve_script():
    sys.path.insert(0, str(REPO / "plugin" / "resolve"))
    module = importlib.import_module("cotvtm_score_timeline")
    yield module
    sys.path.remove(str(REPO / "plugin" / "resolve"))


def test_resolve_script_places_the_music_on_a_new_audio_track(resolve_script, videos, cotvtm_program, tmp_path):
    warm, cool = videos
    timeline = FakeTimeline({1: [FakeTimelineItem(str(warm), 86400, 86575, 25),  # hour-one start, 7 s
                                 FakeTimelineItem(str(cool), 86600, 86750, 0)],
                             2: [FakeTimelineItem(str(cool), 86500, 86550, 50)]})  # 2 s overlay on top
    resolve, pool = fake_resolve(timeline)
    log = []
    options = resolve_script.options(["--cotvtm", cotvtm_program, "--backend", "procedural", "--genre", "rock",
                                      "--lead", "violin", "--chords", "harp", "--bass", "tuba",
                                      "--without", "drums", "--without", "pad",
                                      "--energy", "0.5", "--output-dir", str(tmp_path / "music")])
    assert resolve_script.score_timeline(resolve, options, log.append), log
    manifest = json.loads(Path(pool.imported[0]).with_suffix(".json").read_text())
    briefs = [s["brief"] for s in manifest["segments"]]
    assert {(b["genre"], b["lead"], b["chords"], b["bass"], tuple(b["without"])) for b in briefs} == {
        ("rock", "violin", "harp", "tuba", ("pad", "drums"))}  # in PARTS order
    assert manifest["options"]["energy"] == 0.5
    assert timeline.calls == [("AddTrack", "audio", "stereo")]
    [music] = pool.imported
    assert Path(music).name == "Holiday cut-music-1.wav"
    assert soundfile.info(music).duration == pytest.approx(350 / 25, abs=0.02)
    [placed] = pool.appended
    assert (placed["trackIndex"], placed["recordFrame"], placed["startFrame"], placed["endFrame"],
            placed["mediaType"]) == (2, 86400, 0, 349, 2)
    assert log[-1].startswith("cotvtm: music on audio track 2")
    assert list((tmp_path / "music" / ".cotvtm-work" / "Holiday cut").glob("segment-*.flac"))  # for the next run
    clips = resolve_script.cotvtm_child.flatten(resolve_script.placed_clips(timeline, 25.0), 86400, 86750, 25.0)
    assert clips == [{"path": str(warm), "in": 1.0, "out": 5.0}, {"path": str(cool), "in": 2.0, "out": 4.0},
                     {"path": str(warm), "in": 7.0, "out": 8.0}, {"blank": 1.0},
                     {"path": str(cool), "in": 0.0, "out": 6.0}]


def test_resolve_script_puts_the_musics_parts_on_a_track_each(resolve_script, videos, cotvtm_program, tmp_path):
    warm, _ = videos
    timeline = FakeTimeline({1: [FakeTimelineItem(str(warm), 0, 150, 0)]})
    resolve, pool = fake_resolve(timeline)
    log = []
    font = tmp_path / "fonts" / "GeneralUser.sf2"  # a font of one's own plays them (a copy of the shipped one)
    font.parent.mkdir()
    shutil.copy(config.soundfont_path(), font)
    options = resolve_script.options(["--cotvtm", cotvtm_program, "--stems", "--soundfont", str(font),
                                      "--output-dir", str(tmp_path)])
    assert resolve_script.score_timeline(resolve, options, log.append), log
    manifest = Path(pool.imported[0]).parent.with_suffix(".json")
    assert json.loads(manifest.read_text())["runs_on"] == "cpu, the General MIDI soundfont GeneralUser.sf2"
    parts = ["melody", "chords", "bass", "pad", "drums"]
    assert [Path(p).name for p in pool.imported] == [f"{part}.wav" for part in parts]
    assert all(Path(p).exists() for p in pool.imported)
    assert timeline.calls == [("AddTrack", "audio", "stereo")] * 5
    assert [(c["trackIndex"], c["recordFrame"]) for c in pool.appended] == [(k, 0) for k in range(2, 7)]
    assert log[-1].startswith("cotvtm: the music's parts on audio tracks 2-6")


def test_resolve_script_reports_problems_instead_of_failing(resolve_script, tmp_path, cotvtm_program):
    options = resolve_script.options(["--cotvtm", cotvtm_program, "--output-dir", str(tmp_path)])
    log = []
    empty, pool = fake_resolve(FakeTimeline({1: []}))
    assert not resolve_script.score_timeline(empty, options, log.append) and "no video clips" in log[-1]
    broken = tmp_path / "broken.mov"
    broken.write_bytes(b"\x00" * 100)
    bad, pool = fake_resolve(FakeTimeline({1: [FakeTimelineItem(str(broken), 0, 50, 0)]}))
    assert not resolve_script.score_timeline(bad, options, log.append)
    assert "broken.mov" in log[-1] and not pool.imported
    none, _ = fake_resolve(None)
    assert not resolve_script.score_timeline(none, options, log.append) and "open a timeline" in log[-1]


BLENDER_PYTHONS = [p for p in os.environ.get("COTVTM_BLENDER_PYTHONS", "").split(os.pathsep) if p]


@pytest.mark.skipif(not BLENDER_PYTHONS, reason="set COTVTM_BLENDER_PYTHONS to Pythons with the `bpy` module "
                    "(pip install bpy) to run the add-on in real Blender")
@pytest.mark.parametrize("python", BLENDER_PYTHONS or ["-"])
def test_addon_in_real_blender(python, addon, videos, cotvtm_program, tmp_path):
    import subprocess

    warm, cool = videos
    folder = Path(addon.__file__).parent.parent
    result = subprocess.run([python, str(REPO / "tests" / "blender_check.py"), str(folder), str(warm), str(cool),
                             cotvtm_program, str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["api"] == ("strips" if report["blender"].startswith("5") else "sequences")
    assert report["clips"] == [{"blank": 1.0}, {"path": str(warm), "in": 1.0, "out": 8.0},
                               {"path": str(cool), "in": 0.0, "out": 6.0}]
    assert report["status"] == "done" and report["channel"] == 2 and report["operator"] and report["unregistered"]
    assert report["sound"] == ["SOUND", 2, 1, 351, [2, 3, 4, 5, 6, 7]] or "without Audaspace" in report["sound"]
    assert report["settings"] == ["procedural", 7, 10.0, True, False, "harp", "fretless_bass"]
    assert report["parts"] == ["melody.wav", "chords.wav", "bass.wav", "pad.wav", "drums.wav"]


def test_the_plugins_offer_the_genres_instruments_and_parts_the_rules_have():
    from cotvtm_desktop.brief import PARTS
    from cotvtm_desktop.reasoning.rules import music_rules

    sys.path.insert(0, str(REPO / "plugin" / "common"))
    try:
        import cotvtm_child
    finally:
        sys.path.remove(str(REPO / "plugin" / "common"))
    assert cotvtm_child.GENRES == tuple(music_rules()["genres"])
    assert cotvtm_child.LEADS == tuple(music_rules()["leads"]) and cotvtm_child.PARTS == PARTS
    assert cotvtm_child.CHORDS == tuple(music_rules()["chords"])
    assert cotvtm_child.BASSES == tuple(music_rules()["basses"])
    assert not any("_" in name for name in cotvtm_child.LEADS + cotvtm_child.CHORDS + cotvtm_child.BASSES)
    assert not any("_" in name for name in cotvtm_child.GENRES)  # Blender's menu spells spaces as underscores
