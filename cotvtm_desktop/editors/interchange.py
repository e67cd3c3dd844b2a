"""Interchange timelines, read and written by OpenTimelineIO: its own .otio files and FCP 7 XML (.xml), which
Premiere Pro and DaVinci Resolve export and import, and read only, CMX 3600 EDLs (.edl), which nearly every editor
exports (Avid Media Composer, Vegas, Lightworks too). The main video track becomes a timeline input, and a copy of
the timeline in the same format (or the other; an EDL's as FCP 7 XML) gets the music on a new audio track. The
original file is never written.

An EDL names no files and no frame rate: each clip's file is found by its name (the "FROM CLIP NAME" comment that
Premiere and Resolve write, or a "FROM FILE" path) beside the EDL or in the folders below it, the rate is that of
the first file found, and each file's own start timecode (cameras start at 01:00:00:00) is read from it, since the
EDL's source times count from there.

Final Cut Pro's FCPXML is read and written by fcpxml.py, not through OpenTimelineIO's adapter for it
(otio-fcpx-xml-adapter 1.0), which truncates times to whole frames from below (a 3/5 s gap at 25 fps reads as 14
frames) and frame rates to integers (29.97 -> 29), and cannot read back its own output at 29.97 fps, which would
misplace the music under most phone videos.

What is read: the lowest video track with a clip of a media file. Its clips (file, source range) and gaps, in
order; a generated or offline clip (no file) counts as a gap. Transitions take no time of their own in OTIO (they
overlap their neighbours), so the cut is where two clips meet. Source ranges are in the media's own time, which
starts at the file's timecode (01:00:00:00 on many cameras), so a clip's in point is counted from the start of its
file's available range. Speed changes are not followed: a clip lasts on the music's time line what it lasts on the
editor's, and its pictures are read from its in point at normal speed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from cotvtm_desktop.errors import UserError

FORMATS = {".otio": "otio_json", ".xml": "fcp_xml", ".edl": "cmx_3600"}
OUTPUT_SUFFIXES = (".otio", ".xml")  # a copy may be written in the other format; an EDL's in either
_NAMES = {"otio_json": "OpenTimelineIO timeline", "fcp_xml": "FCP 7 XML timeline", "cmx_3600": "CMX 3600 EDL"}
_EDL_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0)
_SEARCH_DEPTH = 3  # folders below an EDL's where its clips' files are looked for
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
    if adapter == "cmx_3600":
        timeline = _read_edl(path)
    else:
        timeline = _first_timeline(_read(path, adapter), path)
    track = _main_track(timeline, path)
    entries, duration = _entries(track, path)
    return InterchangeProject(path, timeline, entries, duration)


def write_with_music(project: InterchangeProject, music: Path, output: Path, stems: Sequence[Path] = ()) -> None:
    """A copy of the timeline with `music` (covering the main track from its start) on a new audio track, or given
    the music's `stems` (which sum to it) a track for each instead, in the format `output`'s extension names.
    Written under a temporary name, then renamed."""
    timeline = project.timeline_object.deepcopy()
    adapter = FORMATS[output.suffix.lower()]
    if output.parent.resolve() != project.path.parent.resolve():
        _anchor_relative_files(timeline, project.path.parent)
    if adapter == "fcp_xml":
        _give_files_their_lengths(timeline, project.path.parent)
    length = TimeRange(RationalTime(0, project.duration.rate), project.duration)
    for name, audio in [(f"Music: {path.stem} (cotvtm)", path) for path in stems] or [(MUSIC_TRACK, music)]:
        reference = otio.schema.ExternalReference(target_url=audio.resolve().as_uri(), available_range=length)
        track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
        track.append(otio.schema.Clip(name=audio.name, media_reference=reference, source_range=length))
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


def _read(path: Path, adapter: str, **arguments):
    try:
        return otio.adapters.read_from_file(str(path), adapter_name=adapter, **arguments)
    except Exception as exc:  # noqa: BLE001 - each adapter fails its own way on a damaged or foreign file
        raise UserError(f"not a readable {_NAMES[adapter]} ({type(exc).__name__}: {exc})", path) from None


def _read_edl(path: Path) -> otio.schema.Timeline:
    """An EDL's timeline at its media's frame rate, each clip of a file linked to the file found for it."""
    names = [(c.name, getattr(c.media_reference, "target_url", None)) for c in _edl_clips(path, 60)]
    files = _media_by_name(path.parent)
    found = [f for f in (_edl_file(name, url, files, path.parent) for name, url in names) if f is not None]
    if not found:
        raise UserError("none of the EDL's clips has a file beside it or in the folders below it: an EDL names "
                        "clips, not where they are; put the edit's media there", path)
    from cotvtm_desktop.media.probe import probe

    probed = functools.cache(probe)  # a file cut into many clips (on the picture and the sound tracks) is read once
    rate = min(_EDL_RATES, key=lambda r: abs(r - probed(found[0]).fps))
    available = functools.cache(lambda file: TimeRange(
        _timecode_start(file, rate), RationalTime.from_seconds(probed(file).duration, rate).round()))
    timeline = _read(path, "cmx_3600", rate=rate)
    _as_sequence(timeline)
    for clip in _edl_clips(path, rate, timeline):
        url = getattr(clip.media_reference, "target_url", None)
        file = _edl_file(clip.name, url, files, path.parent)
        if file is None:
            raise UserError(f"clip {clip.name!r}: no file of that name beside the EDL or in the folders below it; "
                            "put the edit's media there", path)
        clip.media_reference = otio.schema.ExternalReference(target_url=file.resolve().as_uri(),
                                                             available_range=available(file))
    return timeline


def _as_sequence(timeline: otio.schema.Timeline) -> None:
    """The EDL reader's timeline made like an editor's: black and bars are gaps, and the tracks start at 0 with the
    record timecode (01:00:00:00, often) as the timeline's start, where the reader offsets every track by it."""
    for track in timeline.tracks:
        for index, item in enumerate(list(track)):
            if isinstance(getattr(item, "media_reference", None), otio.schema.GeneratorReference):
                track[index] = otio.schema.Gap(source_range=TimeRange(RationalTime(0, item.duration().rate),
                                                                      item.duration()))
        if track.source_range is not None:
            timeline.global_start_time = -track.source_range.start_time
            track.source_range = None


def _edl_clips(path: Path, rate: float, timeline: otio.schema.Timeline | None = None) -> list[otio.schema.Clip]:
    """The clips of sources in the EDL read at `rate` (any timecode reads at 60 fps), leaving out black and bars."""
    timeline = timeline or _read(path, "cmx_3600", rate=rate)
    return [c for c in timeline.find_clips() if not isinstance(c.media_reference, otio.schema.GeneratorReference)]


def _media_by_name(folder: Path) -> dict[str, Path]:
    """Videos and images in `folder` and a few levels below, by lower-case name and by lower-case stem (the first
    found wins: the nearest folder first)."""
    from cotvtm_desktop import config

    found: dict[str, Path] = {}
    level = [folder]
    for _ in range(_SEARCH_DEPTH + 1):
        below = []
        for directory in level:
            try:
                entries = sorted(directory.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    below.append(entry)
                elif entry.suffix.lower() in config.VIDEO_EXTENSIONS + config.IMAGE_EXTENSIONS:
                    found.setdefault(entry.name.lower(), entry)
                    found.setdefault(entry.stem.lower(), entry)
        level = below
    return found


def _edl_file(name: str, url: str | None, files: dict[str, Path], folder: Path) -> Path | None:
    """The file an EDL clip shows: the path its "FROM FILE" names when that exists, else a file found by that
    path's name or by the clip's name."""
    if url:
        named = Path(otio.url_utils.filepath_from_url(url) if url.startswith("file:") else url)
        named = named if named.is_absolute() else folder / named
        if named.is_file():
            return named
        # the file's name, from a path written on Windows too (C:\Edits\clip.mov)
        name = named.name if url.startswith("file:") else re.split(r"[\\/]", url)[-1]
    return files.get(name.strip().lower())


def _timecode_start(file: Path, rate: float) -> RationalTime:
    """Where `file`'s own timecode starts (a camera's 01:00:00:00; 0 for a file without one), at `rate`."""
    import av

    try:
        with av.open(str(file)) as container:
            tags = [container.metadata, *(stream.metadata for stream in container.streams)]
    except av.FFmpegError:
        return RationalTime(0, rate)  # probe names what is wrong with the file when the edit is read
    for tags_of in tags:
        timecode = tags_of.get("timecode")
        if timecode:
            try:
                return otio.opentime.from_timecode(timecode, rate)  # "01:00:00;00": drop frame
            except ValueError:
                continue
    return RationalTime(0, rate)


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
