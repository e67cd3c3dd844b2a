"""MLT projects (Shotcut .mlt, Kdenlive .kdenlive): the main video track as a timeline input, and a copy of the
project with the music on a new audio track. The original project file is never written.

What is read: the project's frame rate (<profile>), and the lowest video track of the main (last) tractor — its
clips (producer resource, in/out) and blanks, in order. A colour or other generated clip counts as a gap. Upper
tracks (titles, picture-in-picture) are not looked at.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from cotvtm_desktop.errors import UserError

OUTPUT_SUFFIXES = (".mlt", ".kdenlive")
MUSIC_PRODUCER = "cotvtm_music"
MUSIC_PLAYLIST = "cotvtm_music_track"
_GENERATED = ("color", "colour", "noise", "frei0r", "count", "blipflash")  # services with no file behind them


@dataclass(frozen=True)
class MltEntry:
    """One place on the track: a clip of `resource` (None for a gap) from frame `first` to `last` inclusive."""

    resource: Path | None
    first: int
    last: int

    @property
    def frames(self) -> int:
        return self.last - self.first + 1


@dataclass
class MltProject:
    path: Path
    tree: ET.ElementTree
    fps: Fraction
    track: list[MltEntry]
    base: Path  # the folder relative file names are found in: the <mlt root="..."> attribute, else the project's

    @property
    def frames(self) -> int:
        return sum(e.frames for e in self.track)

    def timeline(self) -> dict:
        """The main track as a timeline input (media/timeline.py)."""
        clips = []
        for entry in self.track:
            if entry.resource is None:
                clips.append({"blank": float(entry.frames / self.fps)})
            else:
                clips.append({"path": str(entry.resource), "in": float(entry.first / self.fps),
                              "out": float((entry.last + 1) / self.fps)})
        return {"clips": clips}


def read_project(path: Path) -> MltProject:
    path = Path(path)
    try:
        tree = ET.parse(path)
    except FileNotFoundError:
        raise UserError("project not found", path) from None
    except (ET.ParseError, OSError) as exc:
        raise UserError(f"not a readable MLT project ({exc})", path) from None
    root = tree.getroot()
    if root.tag != "mlt":
        raise UserError("not an MLT project (its root element is not <mlt>)", path)
    fps = _frame_rate(root, path)
    base = Path(root.get("root") or path.parent)
    producers = {p.get("id"): p for p in root if p.tag in ("producer", "chain")}
    playlists = {p.get("id"): p for p in root.iter("playlist")}
    tractors = {t.get("id"): t for t in root.iter("tractor")}
    main = _main_tractor(root, path)
    playlist = _lowest_video_playlist(main, playlists, tractors, producers)
    if playlist is None:
        raise UserError("the project has no video track with clips", path)
    track = [entry for entry in _entries(playlist, producers, base, fps) if entry.frames > 0]
    while track and track[-1].resource is None:
        track.pop()  # a trailing blank plays nothing
    if not any(e.resource for e in track):
        raise UserError("the main video track has no clips", path)
    return MltProject(path, tree, fps, track, base)


def write_with_music(project: MltProject, music: Path, output: Path, stems: Sequence[Path] = ()) -> None:
    """A copy of the project with `music` (covering the main track from frame 0) on a new audio track below the
    others, mixed in; or, given the music's `stems` (which sum to it), a track for each instead, to be balanced in
    the editor. Written under a temporary name, then renamed."""
    tree = copy.deepcopy(project.tree)
    root = tree.getroot()
    main = _main_tractor(root, project.path)
    if root.get("root") is None and output.parent.resolve() != project.base.resolve():
        root.set("root", str(project.base.resolve()))  # a copy elsewhere finds the clips where the original does
    base = project.base if root.get("root") is None else Path(root.get("root"))
    named = [(f"_{path.stem}", f"music: {path.stem}", path) for path in stems] or [("", "music", music)]
    for suffix, caption, audio in named:
        _add_audio_track(root, main, project.frames, suffix, caption, _relative(audio, base))
    ET.indent(tree)
    tmp = output.with_name(f".{output.name}.partial")
    try:
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)


def _add_audio_track(root: ET.Element, main: ET.Element, frames: int, suffix: str, caption: str,
                     reference: str) -> None:
    """The audio file `reference` from frame 0 on a new track below the main tractor's others, mixed in (ids: the
    MUSIC_ ones with `suffix`)."""
    producer_id, playlist_id, last = MUSIC_PRODUCER + suffix, MUSIC_PLAYLIST + suffix, frames - 1
    producer = ET.Element("producer", id=producer_id, attrib={"in": "0", "out": str(last)})
    for name, value in (("length", str(frames)), ("eof", "pause"), ("resource", reference),
                        ("mlt_service", "avformat-novalidate"), ("audio_index", "0"), ("video_index", "-1"),
                        ("shotcut:caption", f"cotvtm {caption}"), ("kdenlive:clipname", f"cotvtm {caption}")):
        _property(producer, name, value)
    playlist = ET.Element("playlist", id=playlist_id)
    _property(playlist, "shotcut:audio", "1")
    _property(playlist, "shotcut:name", f"{caption[0].upper()}{caption[1:]} (cotvtm)")
    ET.SubElement(playlist, "entry", producer=producer_id, attrib={"in": "0", "out": str(last)})
    position = list(root).index(main)
    root.insert(position, playlist)
    root.insert(position, producer)  # MLT needs a producer defined before the tracks that use it
    tracks = main.findall("track")
    track = ET.Element("track", producer=playlist_id, hide="video")
    main.insert(list(main).index(tracks[-1]) + 1, track)
    mix = ET.SubElement(main, "transition", id=f"cotvtm_mix{suffix}")
    for name, value in (("a_track", "0"), ("b_track", str(len(tracks))), ("mlt_service", "mix"),
                        ("always_active", "1"), ("sum", "1")):
        _property(mix, name, value)


# --- reading ----------------------------------------------------------------------------------------------------
def _frame_rate(root: ET.Element, path: Path) -> Fraction:
    profile = root.find("profile")
    try:
        return Fraction(int(profile.get("frame_rate_num")), int(profile.get("frame_rate_den")))
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        raise UserError("the project has no <profile> with a frame rate", path) from None


def _main_tractor(root: ET.Element, path: Path) -> ET.Element:
    """The tractor MLT plays: the one the root names, else the last one in the file."""
    tractors = [t for t in root.iter("tractor")]
    named = [t for t in tractors if t.get("id") == root.get("producer")]
    if not tractors:
        raise UserError("the project has no timeline (<tractor>)", path)
    return (named or tractors)[-1]


def _lowest_video_playlist(tractor: ET.Element, playlists: dict, tractors: dict, producers: dict):
    """The first track, from the bottom, that shows video and holds a clip (Kdenlive nests a tractor per track)."""
    for track in tractor.findall("track"):
        if track.get("hide") in ("video", "both"):
            continue
        target = track.get("producer")
        if target in tractors and tractors[target] is not tractor:
            found = _lowest_video_playlist(tractors[target], playlists, tractors, producers)
            if found is not None:
                return found
        elif target in playlists and _is_video_playlist(playlists[target], producers):
            return playlists[target]
    return None


def _is_video_playlist(playlist: ET.Element, producers: dict) -> bool:
    if _get(playlist, "shotcut:audio") == "1" or _get(playlist, "kdenlive:audio_track") == "1":
        return False
    return any(_file_of(producers.get(e.get("producer"))) for e in playlist.findall("entry"))


def _entries(playlist: ET.Element, producers: dict, base: Path, fps: Fraction):
    for element in playlist:
        if element.tag == "blank":
            yield MltEntry(None, 0, _frames(element.get("length"), fps) - 1)
        elif element.tag == "entry":
            producer = producers.get(element.get("producer"))
            first = _frames(element.get("in", "0"), fps)
            last = _frames(element.get("out"), fps) if element.get("out") is not None else _length(producer, fps) - 1
            resource = _file_of(producer)
            yield MltEntry(_resolve(resource, base) if resource else None, first, last)


def _file_of(producer: ET.Element | None) -> str | None:
    if producer is None:
        return None
    service = (_get(producer, "mlt_service") or "").lower()
    resource = _get(producer, "resource")
    if not resource or service.startswith(_GENERATED) or resource.startswith(("#", "0x")):
        return None  # a colour or generated clip
    return resource


def _length(producer: ET.Element | None, fps: Fraction) -> int:
    value = _get(producer, "length") if producer is not None else None
    return _frames(value, fps) if value else 1


def _frames(value: str | None, fps: Fraction) -> int:
    """MLT time: frames ("125"), a clock ("00:00:05.000") or SMPTE ("00:00:05:00")."""
    if value is None:
        raise UserError("an MLT entry has no length")
    value = value.strip()
    if ":" not in value:
        return int(float(value))
    parts = value.replace(";", ":").split(":")
    if len(parts) == 4:
        hours, minutes, seconds, frames = (int(p) for p in parts)
        return round((hours * 3600 + minutes * 60 + seconds) * fps) + frames
    hours, minutes, seconds = (float(p) for p in parts[-3:]) if len(parts) == 3 else (0.0, *map(float, parts))
    return round(Fraction(hours * 3600 + minutes * 60 + seconds).limit_denominator(100000) * fps)


def _resolve(resource: str, base: Path) -> Path:
    path = Path(resource.removeprefix("file://")).expanduser()
    return path if path.is_absolute() else base / path


def _get(element: ET.Element, name: str) -> str | None:
    for prop in element.findall("property"):
        if prop.get("name") == name:
            return prop.text
    return None


# --- writing ----------------------------------------------------------------------------------------------------
def _property(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "property", name=name).text = value


def _relative(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())
