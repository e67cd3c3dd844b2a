"""Runs inside a Python that has Blender's `bpy` module (PyPI `bpy`): registers the add-on for real, builds a
sequencer edit with the real API, and exercises what the add-on does with it. Prints one JSON line.

Usage: python tests/blender_check.py ADDON_FOLDER WARM.mp4 COOL.mp4 COTVTM_PROGRAM OUT_DIR
(the modal operator itself needs a window, which `bpy` as a module does not have; its steps are run here one by one)
"""

import json
import sys
from pathlib import Path

import bpy

addon_folder, warm, cool, program, out_dir = sys.argv[1:6]
sys.path.insert(0, addon_folder)
import cotvtm_blender as addon  # noqa: E402

addon.register()
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 25, 1.0
editor = scene.sequence_editor_create()
strips = addon.strips_of(editor)
first = strips.new_movie(name="warm", filepath=warm, channel=1, frame_start=1)
first.frame_offset_start = 25  # show the file from 1 s in
first.frame_final_duration = 175
second = strips.new_movie(name="cool", filepath=cool, channel=1, frame_start=201)
second.frame_final_duration = 150
scene.frame_start, scene.frame_end = 1, 350
clips = addon.flatten(addon.all_strips(editor), 1, 351, addon.scene_fps(scene))
timeline = addon.cotvtm_child.write_timeline(clips, Path(out_dir) / "timeline.json")
music = Path(out_dir) / "music.wav"
job = addon.cotvtm_child.CotvtmJob(["score", str(timeline), "-o", str(music), "--backend", "procedural", "--stems"],
                                   program)
status = job.wait(300)
channel = addon.free_channel(addon.all_strips(editor), 1, 351)
parts = addon.cotvtm_child.stem_files(music)  # "A strip per part": the parts on the channels above
try:
    added = addon.add_music(editor, music, channel, 1)
    sound = [added.type, added.channel, added.frame_final_start, added.frame_final_end]
    for offset, part in enumerate(parts, 1):
        addon.add_music(editor, part, channel + offset, 1, f"cotvtm {part.stem}")
    sound.append(sorted(s.channel for s in addon.all_strips(editor) if s.type == "SOUND"))
except RuntimeError as exc:  # the PyPI bpy 4.x module is built without audio: Blender itself has it
    sound = f"unavailable in this bpy build: {exc}"
settings = scene.cotvtm
settings.backend, settings.seed = "procedural", 7
settings.chords, settings.bass = "harp", "fretless_bass"  # real Blender refuses a name its menu lacks
result = {"blender": bpy.app.version_string, "api": "strips" if hasattr(editor, "strips") else "sequences",
          "clips": clips, "status": status, "message": job.message, "channel": channel,
          "sound": sound,
          "settings": [settings.backend, settings.seed, settings.segment_seconds, settings.keep_original,
                       settings.stems, settings.chords, settings.bass],
          "parts": [p.name for p in parts] if all(p.exists() for p in parts) else "missing",
          "operator": hasattr(bpy.types, "SEQUENCER_OT_cotvtm_score")}
addon.unregister()
result["unregistered"] = not hasattr(bpy.types.Scene, "cotvtm")
print(json.dumps(result))
