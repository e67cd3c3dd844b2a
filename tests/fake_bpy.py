"""A stand-in for Blender's `bpy`, enough to load the add-on and run its operator outside Blender. Strips and the
sequencer record what the add-on does to them."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field


@dataclass
class Strip:
    name: str
    type: str
    channel: int
    frame_final_start: int
    frame_final_end: int
    filepath: str = ""
    frame_offset_start: int = 0
    animation_offset_start: int = 0
    mute: bool = False
    directory: str = ""
    elements: list = field(default_factory=list)

    @property
    def frame_final_duration(self) -> int:
        return self.frame_final_end - self.frame_final_start


class Strips(list):
    """The editor's strip collection; `new_sound` records the call like Blender would add the strip."""

    def __init__(self, items=()):
        super().__init__(items)
        self.added: list[dict] = []

    def new_sound(self, name: str, filepath: str, channel: int, frame_start: int):
        self.added.append({"name": name, "filepath": filepath, "channel": channel, "frame_start": frame_start})
        strip = Strip(name, "SOUND", channel, frame_start, frame_start + 1, filepath)
        self.append(strip)
        return strip


class Editor:
    def __init__(self, strips: list[Strip], blender5: bool, active: Strip | None = None):
        collection = Strips(strips)
        if blender5:
            self.strips, self.strips_all = collection, collection
        else:
            self.sequences, self.sequences_all = collection, collection
        self.active_strip = active
        self.collection = collection


class Settings:
    def __init__(self):
        self.backend, self.segment_seconds, self.seed, self.keep_original = "procedural", 10.0, 0, True
        self.genre, self.stems = "picture", False
        self.lead, self.chords, self.bass = "genre", "genre", "genre"
        self.parts = {"melody", "chords", "bass", "pad", "drums"}
        self.energy = 0.0
        self.status, self.progress = "", 0.0


class WindowManager:
    def __init__(self):
        self.timers, self.handlers = [], []

    def event_timer_add(self, seconds, window=None):
        self.timers.append(seconds)
        return seconds

    def event_timer_remove(self, timer):
        self.timers.remove(timer)

    def modal_handler_add(self, operator):
        self.handlers.append(operator)


def context(strips: list[Strip], blender5: bool = True, active: Strip | None = None, fps: int = 25,
            frame_start: int = 1, frame_end: int = 250, executable: str = "", soundfont: str = ""):
    scene = types.SimpleNamespace(name="Scene", frame_start=frame_start, frame_end=frame_end, cotvtm=Settings(),
                                  render=types.SimpleNamespace(fps=fps, fps_base=1.0),
                                  sequence_editor=Editor(strips, blender5, active))
    prefs = types.SimpleNamespace(preferences=types.SimpleNamespace(executable=executable, soundfont=soundfont))
    return types.SimpleNamespace(scene=scene, window_manager=WindowManager(), window=None,
                                 screen=types.SimpleNamespace(areas=[]),
                                 preferences=types.SimpleNamespace(addons={"cotvtm_blender": prefs}))


def install(blend_path: str = "") -> types.ModuleType:
    """Put a fake `bpy` in sys.modules and return it."""
    bpy = types.ModuleType("bpy")

    class Base:
        def report(self, level, message):
            self.reports = getattr(self, "reports", []) + [(set(level), message)]

    class Type:
        pass

    bpy.types = types.SimpleNamespace(Operator=Base, Panel=Base, AddonPreferences=Base, PropertyGroup=Base,
                                      Scene=Type)
    props = types.ModuleType("bpy.props")
    for name in ("BoolProperty", "EnumProperty", "FloatProperty", "IntProperty", "PointerProperty",
                 "StringProperty"):
        setattr(props, name, lambda **kwargs: kwargs.get("default"))
    bpy.props = props
    bpy.registered = []
    bpy.utils = types.SimpleNamespace(register_class=bpy.registered.append,
                                      unregister_class=bpy.registered.remove)
    bpy.path = types.SimpleNamespace(abspath=lambda path: path)
    bpy.app = types.SimpleNamespace(tempdir="")
    bpy.data = types.SimpleNamespace(filepath=blend_path)
    sys.modules["bpy"], sys.modules["bpy.props"] = bpy, props
    return bpy
