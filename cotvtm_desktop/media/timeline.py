"""A timeline input: an ordered list of clip ranges (file, in, out) and gaps, scored as one continuous piece.

This is the form the editor plugins hand to `cotvtm score EDIT.timeline.json -o music.wav`:

    {"clips": [{"path": "a.mp4", "in": 2.0, "out": 7.5}, {"blank": 1.0}, {"path": "b.mov", "in": 0, "out": 4}]}

Times are seconds in each source file; relative paths are relative to the JSON file. The music's time 0 is the
first clip's in point, and a join between clips is a scene cut. An editor project (.kdenlive, .xml, ...) is a timeline
input too: editors/ reads its main track into this form, and `clips_of` checks it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cotvtm_desktop import config
from cotvtm_desktop.errors import BadMediaError, UserError
from cotvtm_desktop.media.probe import MediaInfo, probe

TIMELINE_SUFFIX = ".json"
_END_TOLERANCE = 0.1  # an out point this far past a file's end (rounding to frames) is taken as its end


@dataclass(frozen=True)
class Clip:
    """A range of one source (`info` None for a gap), placed at `offset` seconds on the timeline."""

    info: MediaInfo | None
    source_in: float
    source_out: float
    offset: float

    @property
    def duration(self) -> float:
        return self.source_out - self.source_in

    def to_json(self) -> dict:
        return {"path": str(self.info.path) if self.info else None, "in": round(self.source_in, 4),
                "out": round(self.source_out, 4), "offset": round(self.offset, 4)}


def is_timeline_path(path: Path) -> bool:
    """A timeline JSON or an editor project: an input scored as one piece into its music alone."""
    return is_project_path(path) or Path(path).suffix.lower() == TIMELINE_SUFFIX


def is_project_path(path: Path) -> bool:
    return Path(path).suffix.lower() in config.PROJECT_EXTENSIONS


def read_timeline(path: Path) -> list[Clip]:
    """The clips of a timeline JSON file, each source probed and its range checked; one clear error otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadMediaError("file not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read the timeline ({exc})", path) from None
    return clips_of(data, path)


def clips_of(data: object, path: Path) -> list[Clip]:
    """The clips of a timeline in its JSON form (read from `path`), checked as read_timeline says."""
    path = Path(path)
    entries = data.get("clips") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UserError('expected {"clips": [{"path": ..., "in": ..., "out": ...}, ...]} with at least one clip',
                        path)
    clips, offset = [], 0.0
    probed: dict[Path, MediaInfo] = {}  # an edit uses a file in many clips: it is probed once
    for number, entry in enumerate(entries, 1):
        clip = _clip(entry, number, offset, path, probed)
        clips.append(clip)
        offset += clip.duration
    if all(c.info is None for c in clips):
        raise UserError("the timeline has only gaps; add a clip", path)
    return clips


def _clip(entry: object, number: int, offset: float, timeline: Path, probed: dict[Path, MediaInfo]) -> Clip:
    where = f"clip {number}"
    if not isinstance(entry, dict):
        raise UserError(f"{where}: expected an object with path, in and out (or blank)", timeline)
    if "blank" in entry:
        seconds = _seconds(entry["blank"], f"{where} blank", timeline)
        if seconds <= 0:
            raise UserError(f"{where}: a blank must last more than 0 s", timeline)
        return Clip(None, 0.0, seconds, offset)
    if not isinstance(entry.get("path"), str):
        raise UserError(f"{where}: no path", timeline)
    source = Path(entry["path"]).expanduser()
    source = source if source.is_absolute() else timeline.parent / source
    if source not in probed:
        if not source.exists():  # moved or renamed since the edit was saved
            raise UserError(f"{where}: {source} is not found; put it back, or relink it in your editor", timeline)
        try:
            probed[source] = probe(source)
        except BadMediaError as exc:  # named with the clip: an edit may use many files
            raise UserError(f"{where}: {exc}", timeline) from None
    info = probed[source]
    if info.kind == "image" and "out" not in entry:
        raise UserError(f"{where} ({source.name}): a still image needs in and out (how long it shows)", timeline)
    length = info.duration if info.kind == "video" else float("inf")
    start = _seconds(entry.get("in", 0.0), f"{where} in", timeline)
    end = _seconds(entry.get("out", length), f"{where} out", timeline)
    if end > length and end - length <= _END_TOLERANCE:
        end = length
    if not 0 <= start < end <= length:
        raise UserError(f"{where} ({source.name}): in {start:g} s and out {end:g} s must satisfy 0 ≤ in < out ≤ its "
                        f"length ({length:g} s)", timeline)
    return Clip(info, start, end, offset)


def _seconds(value: object, what: str, timeline: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{what}: expected seconds as a number, not {value!r}", timeline)
    return float(value)


def joined_clips(paths: list[Path]) -> list[Clip]:
    """The parts of one recording that a camera split across files (a GoPro's chapters, a DVD title's VOBs, a 4 GB
    split), one after another in the order given, each whole. They must share one picture format (codec, size,
    orientation, scan), as parts of one recording do; one clear error otherwise."""
    clips, offset = [], 0.0
    for path in paths:
        info = probe(path)
        if info.kind != "video":
            raise UserError("is not a video: --join puts together the parts of one recording", path)
        clips.append(Clip(info, 0.0, info.duration, offset))
        offset += info.duration
    first = clips[0].info
    for clip in clips[1:]:
        if _picture_format(clip.info) != _picture_format(first):
            raise UserError(f"its picture ({_picture_format(clip.info)}) differs from {first.path.name}'s "
                            f"({_picture_format(first)}), so they are not parts of one recording: put different "
                            "clips together in an editor and score its project", clip.info.path)
    return clips


def _picture_format(info: MediaInfo) -> str:
    described = [f"{info.video_codec} {info.width}x{info.height}", f"turned {info.rotation}°",
                 "interlaced" if info.interlaced else "progressive", info.hdr.upper()]
    return ", ".join(part for part in described if part)


def clip_at(clips: list[Clip], at: float) -> tuple[Clip, float]:
    """The clip (or gap) showing `at` seconds into the timeline, and that moment's time in its source."""
    clip = next((c for c in clips if at < c.offset + c.duration), clips[-1])
    return clip, clip.source_in + min(max(at - clip.offset, 0.0), clip.duration)


def timeline_info(path: Path, clips: list[Clip]) -> MediaInfo:
    """The timeline seen as one input: its length, no picture stream of its own, and sound when a clip has some
    (the music ducks under the clips' own sound, which an editor keeps on its own tracks: the music goes beside)."""
    first = next(c.info for c in clips if c.info is not None)
    end = clips[-1].offset + clips[-1].duration
    has_audio = any(c.info is not None and c.info.has_audio for c in clips)
    return MediaInfo(Path(path), "timeline", end, first.width, first.height, 0, first.fps, "", has_audio, 0.0)
