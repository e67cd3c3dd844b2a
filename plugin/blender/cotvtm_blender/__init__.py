"""cotvtm for Blender's Video Sequencer: score the selected strip or the timeline, and get the music as a sound
strip on a free channel. The work runs in the `cotvtm` program as a child process (nothing is installed into
Blender's Python); Esc cancels. Works with Blender 4.x (`sequences`) and 5.x (`strips`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import cotvtm_child

bl_info = {
    "name": "cotvtm: music for your edit",
    "author": "cotvtm-desktop",
    "version": (0, 1, 0),
    "blender": (4, 0, 0),
    "location": "Video Sequencer › Sidebar › cotvtm",
    "description": "Scores the selected strip or the timeline with music made for the pictures",
    "category": "Sequencer",
}

VISUAL = {"MOVIE", "IMAGE"}
MAX_CHANNEL = 128
POLL_SECONDS = 0.25


# --- the sequencer, whichever Blender ---------------------------------------------------------------------------
def strips_of(editor):
    """Top-level strips: `strips` from Blender 5.0 on, `sequences` before."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def all_strips(editor):
    """Every strip, inside meta strips too."""
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all


def active_strip(editor):
    return getattr(editor, "active_strip", None)


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def placed(strip) -> cotvtm_child.Placed:
    """A visual strip as the part of its file it shows, where."""
    if strip.type == "MOVIE":
        first = strip.frame_offset_start + getattr(strip, "animation_offset_start", 0)
        path = bpy.path.abspath(strip.filepath)
    else:
        first = 0
        path = bpy.path.abspath(strip.directory + strip.elements[0].filename)
    return cotvtm_child.Placed(str(Path(path)), first, strip.frame_final_start, strip.frame_final_end, strip.channel)


def flatten(strips, start: int, end: int, fps: float) -> list[dict]:
    """What the viewer shows between frames `start` and `end` (higher channels cover lower ones; muted strips
    show nothing), as timeline clips."""
    return cotvtm_child.flatten([placed(s) for s in strips if s.type in VISUAL and not s.mute], start, end, fps)


def free_channel(strips, start: int, end: int, count: int = 1) -> int:
    """The channel just above every strip between `start` and `end` (and the `count` - 1 above it)."""
    used = [s.channel for s in strips if s.frame_final_end > start and s.frame_final_start < end]
    channel = max(used, default=0) + 1
    if channel + count - 1 > MAX_CHANNEL:
        raise RuntimeError("no free channel above the strips in this range")
    return channel


def add_music(editor, path: Path, channel: int, frame_start: int, name: str = "cotvtm music"):
    return strips_of(editor).new_sound(name=name, filepath=str(path), channel=channel, frame_start=frame_start)


# --- settings ---------------------------------------------------------------------------------------------------
class CotvtmPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__ or __name__
    executable: StringProperty(name="cotvtm program", default="cotvtm", subtype="FILE_PATH",
                               description="Path to the cotvtm program (found on PATH when just 'cotvtm')")
    soundfont: StringProperty(name="SoundFont", default="", subtype="FILE_PATH",
                              description="Procedural backend: a General MIDI .sf2 soundfont to play the music with "
                              "(empty: the small one cotvtm ships)")

    def draw(self, context):
        self.layout.prop(self, "executable")
        self.layout.prop(self, "soundfont")


def _instrument_menu(name: str, plays: str, instruments: tuple[str, ...]):
    """A procedural part's instrument: the genre's own, or one of `instruments` (Blender's names spell spaces as
    underscores)."""
    own = ("genre", "The genre's", f"Each genre's own instrument for {plays}")
    menu = [own] + [(each.replace(" ", "_"), each.capitalize(), "") for each in instruments]
    return EnumProperty(name=name, default="genre", items=menu,
                        description=f"Procedural backend: the instrument that plays {plays}")


class CotvtmSettings(bpy.types.PropertyGroup):
    backend: EnumProperty(name="Backend", items=[("auto", "Auto", "Neural when its models are present"),
                                                 ("procedural", "Procedural", "Instant, on the CPU"),
                                                 ("neural", "Neural", "CoT-VTM with MusicGen")], default="auto")
    segment_seconds: FloatProperty(name="Segment length", default=10.0, min=2.0, max=30.0, unit="TIME_ABSOLUTE")
    genre: EnumProperty(name="Genre", default="picture", description="Procedural backend: one genre for the whole "
                        "edit, or each segment's from its picture",
                        items=[("picture", "From the picture", "Each segment's genre from its picture")] + [
                            (name.replace(" ", "_"), name.capitalize(), "") for name in cotvtm_child.GENRES])
    lead: _instrument_menu("Lead", "the tune", cotvtm_child.LEADS)
    chords: _instrument_menu("Chords", "the chords", cotvtm_child.CHORDS)
    bass: _instrument_menu("Bass", "the bass line", cotvtm_child.BASSES)
    parts: EnumProperty(name="Parts", options={"ENUM_FLAG"}, default=set(cotvtm_child.PARTS),
                        description="Procedural backend: the parts of the music to play (those off are left out)",
                        items=[(name, name.capitalize(), "") for name in cotvtm_child.PARTS])
    energy: FloatProperty(name="Energy", default=0.0, min=-1.0, max=1.0, step=50,
                          description="Procedural backend: the picture's genre played calmer (down to -1: slower, "
                          "softer, sparser) or livelier (up to 1) than the picture asks for")
    seed: IntProperty(name="Seed", default=0, min=0)
    keep_original: BoolProperty(name="Keep original audio", default=True,
                                description="Leave the clips' own sound strips playing (otherwise they are muted)")
    stems: BoolProperty(name="A strip per part", default=False,
                        description="Procedural backend: the music's parts (melody, chords, bass, pad, drums) on a "
                        "sound strip each, to balance in the sequencer")
    status: StringProperty(name="Status", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")


def preferences(context):
    addon = context.preferences.addons.get(CotvtmPreferences.bl_idname)
    return addon.preferences if addon is not None else None


# --- the operator -------------------------------------------------------------------------------------------------
class COTVTM_OT_score(bpy.types.Operator):
    """Make music for the selected strip or the timeline and add it as a sound strip"""

    bl_idname = "sequencer.cotvtm_score"
    bl_label = "Score with cotvtm"
    what: EnumProperty(items=[("STRIP", "Selected strip", ""), ("TIMELINE", "Timeline", "")], default="TIMELINE")

    def invoke(self, context, event):
        scene, settings = context.scene, context.scene.cotvtm
        editor = scene.sequence_editor
        if editor is None:
            self.report({"ERROR"}, "The scene has no strips to score")
            return {"CANCELLED"}
        fps = scene_fps(scene)
        if self.what == "STRIP":
            strip = active_strip(editor)
            if strip is None or strip.type not in VISUAL:
                self.report({"ERROR"}, "Select a movie or image strip first")
                return {"CANCELLED"}
            self.start, self.end = strip.frame_final_start, strip.frame_final_end
            clips = flatten([strip], self.start, self.end, fps)
        else:
            self.start, self.end = scene.frame_start, scene.frame_end + 1
            clips = flatten(all_strips(editor), self.start, self.end, fps)
        if not any("path" in c for c in clips):
            self.report({"ERROR"}, "No movie or image strips in the range to score")
            return {"CANCELLED"}
        folder = Path(tempfile.mkdtemp(prefix="cotvtm-", dir=bpy.app.tempdir or None))
        self.output = _music_path(scene)
        timeline = cotvtm_child.write_timeline(clips, folder / "timeline.json")
        prefs = preferences(context)
        args = ["score", str(timeline), "-o", str(self.output), "--overwrite", "--backend", settings.backend,
                "--segment-seconds", f"{settings.segment_seconds:g}", "--seed", str(settings.seed),
                "--work", str(cotvtm_child.work_folder(self.output.parent, scene.name))]
        if not settings.keep_original:
            args.append("--replace-audio")  # the clips' sound will be muted: the music need not duck under it
        genre = "" if settings.genre == "picture" else settings.genre.replace("_", " ")
        font = bpy.path.abspath(prefs.soundfont) if prefs is not None and prefs.soundfont else ""
        chosen = {part: "" if getattr(settings, part) == "genre" else getattr(settings, part).replace("_", " ")
                  for part in ("lead", "chords", "bass")}
        without = tuple(part for part in cotvtm_child.PARTS if part not in settings.parts)
        args += cotvtm_child.music_args(genre=genre, stems=settings.stems, soundfont=font, without=without,
                                        energy=settings.energy, **chosen)
        try:
            self.job = cotvtm_child.CotvtmJob(args, prefs.executable if prefs else "")
        except OSError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings.status, settings.progress = "Scoring…", 0.0
        self.timer = context.window_manager.event_timer_add(POLL_SECONDS, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        settings = context.scene.cotvtm
        if event.type == "ESC":
            self.job.cancel()
            settings.status = "Cancelling…"
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        self.job.poll()
        settings.progress = self.job.fraction
        if self.job.status == "running":
            settings.status = f"Scoring… {round(100 * self.job.fraction)} %"
            _redraw(context)
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self.timer)
        if self.job.status != "done":
            settings.status = self.job.message
            self.report({"WARNING" if self.job.status == "cancelled" else "ERROR"}, f"cotvtm: {self.job.message}")
            _redraw(context)
            return {"CANCELLED"}
        editor = context.scene.sequence_editor
        parts = cotvtm_child.stem_files(self.output) if settings.stems else [self.output]
        channel = free_channel(all_strips(editor), self.start, self.end, len(parts))
        for offset, path in enumerate(parts):
            add_music(editor, path, channel + offset, self.start, f"cotvtm {path.stem}" if settings.stems else
                      "cotvtm music")
        ours = range(channel, channel + len(parts))
        if not settings.keep_original:
            for strip in all_strips(editor):
                if strip.type == "SOUND" and strip.frame_final_end > self.start and strip.frame_final_start < self.end \
                        and strip.channel not in ours:
                    strip.mute = True
        settings.status = (f"Music added on channel {channel}" if len(parts) == 1 else
                           f"The music's parts added on channels {channel}-{ours[-1]}")
        _redraw(context)
        return {"FINISHED"}


def _music_path(scene) -> Path:
    """Beside the .blend in a cotvtm folder (the temporary folder for an unsaved file), never over an earlier one."""
    blend = bpy.data.filepath
    folder = Path(blend).parent / "cotvtm" if blend else Path(tempfile.gettempdir()) / "cotvtm"
    folder.mkdir(parents=True, exist_ok=True)
    number, name = 1, cotvtm_child.safe_name(scene.name, "scene")
    while (folder / f"{name}-music-{number}.wav").exists():
        number += 1
    return folder / f"{name}-music-{number}.wav"


def _redraw(context) -> None:
    for area in getattr(context.screen, "areas", []):
        if area.type == "SEQUENCE_EDITOR":
            area.tag_redraw()


class COTVTM_PT_panel(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "cotvtm"
    bl_label = "Music (cotvtm)"

    def draw(self, context):
        layout, settings = self.layout, context.scene.cotvtm
        for name in ("backend", "segment_seconds", "genre", "lead", "chords", "bass", "parts", "energy", "seed",
                     "keep_original", "stems"):
            layout.prop(settings, name)
        layout.operator(COTVTM_OT_score.bl_idname, text="Score selected strip").what = "STRIP"
        layout.operator(COTVTM_OT_score.bl_idname, text="Score timeline").what = "TIMELINE"
        if settings.status:
            layout.prop(settings, "progress", text=settings.status, slider=True)


CLASSES = (CotvtmPreferences, CotvtmSettings, COTVTM_OT_score, COTVTM_PT_panel)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.cotvtm = PointerProperty(type=CotvtmSettings)


def unregister():
    del bpy.types.Scene.cotvtm
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
