"""Editor plugins outside their editors: Blender's add-on on a fake `bpy`, Resolve's script on a fake Resolve API,
both driving the real `cotvtm` CLI as a child process on tiny synthetic videos."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest
import soundfile

import fake_bpy
from media import make_two_shot_video

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
    operator = addon.COTVTM_OT_score()
    operator.what = "TIMELINE"
    assert operator.invoke(context, None) == {"RUNNING_MODAL"}
    assert context.window_manager.handlers == [operator]
    assert run_modal(operator, context) == {"FINISHED"}, context.scene.cotvtm.status
    editor = context.scene.sequence_editor
    [added] = editor.collection.added
    assert added["channel"] == 3 and added["frame_start"] == 1 and added["name"] == "cotvtm music"
    audio, rate = soundfile.read(added["filepath"])
    assert len(audio) / rate == pytest.approx(350 / 25, abs=0.02)
    assert Path(added["filepath"]).parent.name == "cotvtm"  # beside the .blend
    assert strips[1].mute and context.scene.cotvtm.status == "Music added on channel 3"
    assert not context.window_manager.timers


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
