"""Interchange timelines, read and written by OpenTimelineIO: its own .otio files and FCP 7 XML (.xml), which
Premiere Pro and DaVinci Resolve export and import. The main video track becomes a timeline input, and a copy of the
timeline in the same format (or the other) gets the music on a new audio track. The original file is never written.

Final Cut Pro's FCPXML is not offered: OpenTimelineIO's adapter for it (otio-fcpx-xml-adapter 1.0) truncates times
to whole frames from below (a 3/5 s gap at 25 fps reads as 14 frames) and frame rates to integers (29.97 -> 29),
and cannot read back its own output at 29.97 fps, which would misplace the music under most phone videos.

What is read: the lowest video track with a clip of a media file. Its clips (file, source range) and gaps, in
order; a generated or offline clip (no file) counts as a gap. Transitions take no time of their own in OTIO (they
overlap their neighbours), so the cut is where two clips meet. Source ranges are in the media's own time, which
starts at the file's timecode (01:00:00:00 on many cameras), so a clip's in point is counted from the start of its
file's available range. Speed changes are not followed: a clip lasts on the music's time line what it lasts on the
editor's, and its pictures are read from its in point at normal speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from cotvtm_desktop.errors import UserError

FORMATS = {".otio": "otio_json", ".xml": "fcp_xml"}
OUTPUT_SUFFIXES = tuple(FORMATS)  # a copy may be written in the other format
_NAMES = {"otio_json": "OpenTimelineIO timeline", "fcp_xml": "FCP 7 XML timeline"}
MUSIC_TRACK = "Music (cotvtm)"


@dataclass
class InterchangeProject:
    path: Path
    timeline_object: otio.schema.Timeline  # as read
    entries: list[dict]  # the main track as timeline entries (media/timeline.py)
    duration: RationalTime  # from the track's start to the end of its last clip

    def timeline(self) -> dict:
        """The main track as a timeline input (media/timeline.py)."""
        return {"clips": self.entries}


def read_project(path: Path) -> InterchangeProject:
    path = Path(path)
    adapter = FORMATS.get(path.suffix.lower())
    if adapter is None:
        raise UserError(f"not an interchange timeline (use {', '.join(FORMATS)})", path)
    if not path.exists():
        raise UserError("project not found", path)
    try:
        read = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as exc:  # noqa: BLE001 - each adapter fails its own way on a damaged or foreign file
        raise UserError(f"not a readable {_NAMES[adapter]} ({type(exc).__name__}: {exc})", path) from None
    timeline = _first_timeline(read, path)
    track = _main_track(timeline, path)
    entries, duration = _entries(track, path)
    return InterchangeProject(path, timeline, entries, duration)


def write_with_music(project: InterchangeProject, music: Path, output: Path) -> None:
    """A copy of the timeline with `music` (covering the main track from its start) on a new audio track, in the
    format `output`'s extension names. Written under a temporary name, then renamed."""
    timeline = project.timeline_object.deepcopy()
    adapter = FORMATS[output.suffix.lower()]
    if output.parent.resolve() != project.path.parent.resolve():
        _anchor_relative_files(timeline, project.path.parent)
    if adapter == "fcp_xml":
        _give_files_their_lengths(timeline, project.path.parent)
    length = TimeRange(RationalTime(0, project.duration.rate), project.duration)
    reference = otio.schema.ExternalReference(target_url=music.resolve().as_uri(), available_range=length)
    track = otio.schema.Track(name=MUSIC_TRACK, kind=otio.schema.TrackKind.Audio)
    track.append(otio.schema.Clip(name=music.name, media_reference=reference, source_range=length))
    timeline.tracks.append(track)
    tmp = output.with_name(f".{output.stem}.partial{output.suffix}")
    try:
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name=adapter)
        tmp.replace(output)
    except OSError:
        raise  # a full disk or a folder we may not write: the caller says so in one message
    except Exception as exc:  # noqa: BLE001 - an adapter that cannot express something in this timeline
        raise UserError(f"could not write the timeline as {_NAMES[adapter]} ({type(exc).__name__}: {exc}); "
                        f"try {' or '.join(s for s in OUTPUT_SUFFIXES if s != output.suffix.lower())}", output)
    finally:
        tmp.unlink(missing_ok=True)


def _anchor_relative_files(timeline: otio.schema.Timeline, folder: Path) -> None:
    """Files named relative to the original's folder, named in full: a copy written elsewhere finds them too."""
    for clip in timeline.find_clips():
        file = _media_file(clip, folder)
        if file is not None and not clip.media_reference.target_url.startswith("file:"):
            clip.media_reference.target_url = file.resolve().as_uri()


def _give_files_their_lengths(timeline: otio.schema.Timeline, folder: Path) -> None:
    """FCP 7 XML names each file's length, which an .otio timeline may leave out: take it from the file."""
    from cotvtm_desktop.media.probe import probe

    lengths: dict[Path, float] = {}  # a file cut into many clips is probed once
    for clip in timeline.find_clips():
        file = _media_file(clip, folder)
        if file is not None and clip.media_reference.available_range is None:
            rate = clip.trimmed_range().duration.rate
            if file not in lengths:
                lengths[file] = probe(file).duration
            clip.media_reference.available_range = TimeRange(
                RationalTime(0, rate), RationalTime.from_seconds(lengths[file], rate).round())


def _first_timeline(read, path: Path) -> otio.schema.Timeline:
    if isinstance(read, otio.schema.Timeline):
        return read
    found = list(read.find_children(descriptor=otio.schema.Timeline)) if hasattr(read, "find_children") else []
    if not found:
        raise UserError("the file holds no timeline (export a sequence from your editor)", path)
    return found[0]  # an XML export of several sequences: the first


def _main_track(timeline: otio.schema.Timeline, path: Path) -> otio.schema.Track:
    for track in timeline.video_tracks():  # bottom first
        if any(_media_file(item, path.parent) for item in track if _is_clip(item)):
            return track
    raise UserError("the timeline has no video track with a clip of a media file", path)


def _entries(track: otio.schema.Track, path: Path) -> tuple[list[dict], RationalTime]:
    """Timeline entries for `track`'s items, trailing gaps dropped, and the time up to the end of its last clip."""
    placed = []  # (entry, its duration on the track)
    for item in track:
        if isinstance(item, otio.schema.Transition):
            continue  # takes no time on the track
        duration = item.trimmed_range().duration
        file = _media_file(item, path.parent) if _is_clip(item) else None
        if file is not None and not file.exists():
            raise UserError(f"clip {item.name!r}: its media file {file} is not found; relink it in your editor and "
                            "export again", path)
        if file is None:
            placed.append(({"blank": duration.to_seconds()}, duration))
        else:
            start = item.trimmed_range().start_time - _media_start(item)
            placed.append(({"path": str(file), "in": start.to_seconds(), "out": (start + duration).to_seconds()},
                           duration))
    while "blank" in placed[-1][0]:
        placed.pop()  # a trailing gap plays nothing
    return [entry for entry, _ in placed], sum((d for _, d in placed[1:]), placed[0][1])


def _is_clip(item) -> bool:
    return isinstance(item, otio.schema.Clip)


def _media_file(clip: otio.schema.Clip, folder: Path) -> Path | None:
    """The media file a clip shows, or None for a generated or offline clip."""
    reference = clip.media_reference
    if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
        return None
    url = reference.target_url
    file = Path(otio.url_utils.filepath_from_url(url) if url.startswith("file:") else url)
    return file if file.is_absolute() else folder / file


def _media_start(clip: otio.schema.Clip) -> RationalTime:
    """Where the clip's media file begins in the media time its source range is given in."""
    available = clip.media_reference.available_range
    return available.start_time if available is not None else RationalTime(0, clip.trimmed_range().start_time.rate)
