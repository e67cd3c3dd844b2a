"""Final Cut Pro's FCPXML (.fcpxml, and the .fcpxmld bundle Final Cut Pro 10.6 and later exports by default): the
project's primary storyline as a timeline input, and a copy of the document with the music connected below it. The
original is never written.

Our own reader and writer, not OpenTimelineIO's adapter: that adapter (otio-fcpx-xml-adapter 1.0) truncates times to
whole frames and frame rates to integers (29.97 -> 29), which would misplace the music under most phone videos, and
rewrites the whole document. Here every time stays the exact rational number of seconds FCPXML writes ("1001/30000s"),
and the copy is the original document, element for element, plus the music: an asset for its file, and one
connected clip (an asset-clip on lane -1, role "music") anchored to the storyline's first item at its start — or,
given the music's stems, a connected clip for each, on lanes -1, -2, ... The project is renamed "NAME (scored)" and
loses its uid, so that Final Cut Pro imports it as a new project beside the original.

What is read: the document's project (one: an event's export holding several is refused, naming them), and its
sequence's spine (the primary storyline), in order. A clip of a media file (asset-clip, or a clip holding a video)
is a piece of that file; a compound clip (ref-clip), a synchronized clip (sync-clip) and a multicam clip (mc-clip:
the angle it shows) are opened and the part of their storyline they show is read in the same way; of an audition,
its pick (the first of its clips). Gaps, titles, generators, audio-only and disabled clips are gaps. Transitions
overlap the clips beside them, so the cut is where the two clips meet; connected clips (above or below the
storyline) are not looked at. Speed changes (timeMap) and rate conforming are not followed: a clip lasts on the
music's time line what it lasts in the project, and its pictures are read from its start at normal speed.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse
from urllib.request import url2pathname

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError

OUTPUT_SUFFIXES = (".fcpxml",)
BUNDLE_SUFFIX = ".fcpxmld"  # a folder holding Info.fcpxml (and nothing this reads)
BUNDLE_DOCUMENT = "Info.fcpxml"
MUSIC_ROLE = "music"  # Final Cut Pro's own role for music
SCORED_NAME = "{name} (scored)"
# What comes after a story element's anchored items, in every element that holds them (the FCPXML DTD): the music
# is anchored before the first of these, after any items anchored there already
_AFTER_ANCHORS = {"marker", "chapter-marker", "rating", "keyword", "analysis-marker", "audio-channel-source",
                  "audio-role-source", "sync-source", "filter-video", "filter-video-mask", "filter-audio", "metadata",
                  "reserved"}
_OPENED = ("clip", "sync-clip")  # story elements whose own contained items are their pictures
_STORY = {"asset-clip", "video", "audio", "clip", "sync-clip", "ref-clip", "mc-clip", "title", "caption", "gap",
          "audition"}
_TIME = re.compile(r"^\s*(-?\d+)(?:/(\d+))?s\s*$")


@dataclass(frozen=True)
class Piece:
    """`length` seconds of the storyline from `at`: `file` from `source_in` seconds into it, or a gap (no file)."""

    at: Fraction
    length: Fraction
    file: Path | None = None
    source_in: Fraction = Fraction(0)
    name: str = ""


@dataclass
class FcpxmlProject:
    path: Path  # the .fcpxml file or the .fcpxmld bundle the user named
    root: ET.Element  # the document as read: its copy is written with the music
    pieces: list[Piece]  # the primary storyline from its start, trailing gaps dropped
    start: Fraction  # the storyline's start, in the sequence's time

    @property
    def duration(self) -> Fraction:
        return sum((piece.length for piece in self.pieces), Fraction(0))

    def timeline(self) -> dict:
        """The primary storyline as a timeline input (media/timeline.py)."""
        clips = []
        for piece in self.pieces:
            if piece.file is None:
                clips.append({"blank": float(piece.length)})
            else:
                clips.append({"path": str(piece.file), "in": float(piece.source_in),
                              "out": float(piece.source_in + piece.length)})
        return {"clips": clips}


def read_project(path: Path) -> FcpxmlProject:
    path = Path(path)
    document = path / BUNDLE_DOCUMENT if path.suffix.lower() == BUNDLE_SUFFIX else path
    root = _parse(document, path)
    project = _project(root, path)
    spine = project.find("sequence/spine")
    if spine is None:
        raise UserError(f"project {project.get('name', '')!r} has no storyline (no sequence spine)", path)
    resources = {element.get("id"): element for element in root.iterfind("resources/*")}
    try:
        pieces = _storyline(list(spine), _Context(resources, path))
        first = _first_item(spine)
        start = _time(first.get("offset", "0s")) if first is not None else Fraction(0)
    except ValueError as exc:
        raise UserError(f"not a readable FCPXML document ({exc})", path) from None
    pieces = _from(pieces, start)
    while pieces and pieces[-1].file is None:
        pieces.pop()  # a trailing gap plays nothing
    if not pieces:
        raise UserError(f"project {project.get('name', '')!r}: its storyline has no clip of a media file", path)
    for piece in pieces:
        if piece.file is not None and not piece.file.exists():
            raise UserError(f"clip {piece.name!r}: its media file {piece.file} is not found; relink it in Final Cut "
                            "Pro and export the XML again", path)
    return FcpxmlProject(path, root, pieces, start)


def write_with_music(project: FcpxmlProject, music: Path, output: Path, stems: Sequence[Path] = ()) -> None:
    """A copy of the document with `music` (covering the storyline from its start) connected below the storyline's
    first item, or given the music's `stems` (which sum to it) a connected clip for each, to be balanced in Final Cut
    Pro. Written under a temporary name, then renamed."""
    root = copy.deepcopy(project.root)
    element = _project(root, project.path)
    element.set("name", SCORED_NAME.format(name=element.get("name", project.path.stem)))
    element.attrib.pop("uid", None)  # the same uid would stand for the original project
    resources = root.find("resources")  # there: the storyline's clips are of its assets
    first = _first_item(element.find("sequence/spine"))
    if first.tag == "audition":
        first = first[0]  # its pick: what is anchored to the audition itself would be another pick
    taken = {e.get("id") for e in root.iter() if e.get("id")}
    with_media_rep = _version(root) >= (1, 9)  # before 1.9 an asset names its file in its own src
    audio = [(path.stem, path) for path in stems] or [(music.stem, music)]
    for lane, (name, file) in enumerate(audio, start=1):
        ident = next(f"cotvtm{k}" for k in range(1, len(taken) + 2) if f"cotvtm{k}" not in taken)
        taken.add(ident)
        asset = ET.SubElement(resources, "asset", id=ident, name=name, start="0s",
                              duration=_text(project.duration), hasAudio="1", audioSources="1", audioChannels="2",
                              audioRate="48000")
        if with_media_rep:
            ET.SubElement(asset, "media-rep", kind="original-media", src=file.resolve().as_uri())
        else:
            asset.set("src", file.resolve().as_uri())
        clip = ET.Element("asset-clip", ref=ident, lane=str(-lane), offset=first.get("start", "0s"), name=name,
                          start="0s", duration=_text(project.duration), audioRole=MUSIC_ROLE)
        _anchor(first, clip)
    tmp = output.with_name(f".{output.stem}.partial{output.suffix}")
    try:
        with open(tmp, "wb") as file:
            file.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n')
            file.write(ET.tostring(root, encoding="utf-8"))
            file.write(b"\n")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Context:
    resources: dict[str, ET.Element]
    path: Path  # the project the user named, for messages


def _storyline(items: list[ET.Element], context: _Context) -> list[Piece]:
    """The pieces of pictures of a storyline's `items` (a spine's, an angle's, a clip's contained items), each at
    its offset in the storyline's time; transitions and connected items left out."""
    pieces = []
    for item in items:
        if item.tag not in _STORY or item.get("lane") not in (None, "0"):
            continue
        if item.tag == "audition":
            pick = next(iter(item), None)
            if pick is None:
                continue
            if pick.get("offset") is None:
                pick = copy.copy(pick)
                pick.set("offset", item.get("offset", "0s"))
            item = pick
        pieces.extend(_item(item, context))
    return pieces


def _item(item: ET.Element, context: _Context) -> list[Piece]:
    """One story element's pictures, at its offset for its duration: a piece of a file, or what a compound, a
    synchronized or a multicam clip shows of its own storyline; none for a gap, a title, a generator or sound."""
    at = _time(item.get("offset", "0s"))
    start = _time(item.get("start")) if item.get("start") is not None else None
    name = item.get("name", "")
    if item.get("enabled") == "0":
        return []
    if item.tag in ("asset-clip", "video"):
        asset = context.resources.get(item.get("ref"))
        if asset is None or asset.tag != "asset" or item.get("srcEnable") == "audio":
            return []  # a generator (an effect), or sound alone
        file = _asset_file(asset, context.path)
        if not _has_pictures(asset, file):
            return []
        asset_start = _time(asset.get("start", "0s"))
        source_in = (start if start is not None else asset_start) - asset_start
        length = _time(item.get("duration") or asset.get("duration")) - (
            source_in if item.get("duration") is None else 0)
        return [Piece(at, length, file, source_in, name)]
    if item.get("duration") is None:
        return []
    length = _time(item.get("duration"))
    inner, local_start = None, start if start is not None else Fraction(0)
    if item.tag in _OPENED:
        inner = [child for child in item if child.tag != "spine"] + [
            grandchild for child in item if child.tag == "spine" and child.get("lane") in (None, "0")
            for grandchild in child]
    elif item.tag == "ref-clip":
        media = context.resources.get(item.get("ref"))
        spine = media.find("sequence/spine") if media is not None else None
        inner = list(spine) if spine is not None else None
    elif item.tag == "mc-clip":
        inner = _shown_angle(item, context)
    if inner is None:
        return []  # a gap, a title, a generator, sound alone
    shown = _window(_storyline(inner, context), local_start, length)
    return [Piece(p.at - local_start + at, p.length, p.file, p.source_in, p.name or name) for p in shown]


def _shown_angle(item: ET.Element, context: _Context) -> list[ET.Element] | None:
    """The items of the multicam angle whose pictures an mc-clip shows."""
    media = context.resources.get(item.get("ref"))
    multicam = media.find("multicam") if media is not None else None
    if multicam is None:
        return None
    video = next((s.get("angleID") for s in item.iterfind("mc-source") if s.get("srcEnable", "all") in
                  ("all", "video")), None)
    angle = next((a for a in multicam.iterfind("mc-angle") if a.get("angleID") == video), None)
    return list(angle) if angle is not None else None


def _window(pieces: list[Piece], start: Fraction, length: Fraction) -> list[Piece]:
    """The parts of `pieces` from `start` for `length`."""
    end, shown = start + length, []
    for piece in sorted(pieces, key=lambda p: p.at):
        first, last = max(piece.at, start), min(piece.at + piece.length, end)
        if last > first:
            shown.append(Piece(first, last - first, piece.file, piece.source_in + (first - piece.at), piece.name))
    return shown


def _from(pieces: list[Piece], start: Fraction) -> list[Piece]:
    """`pieces` end to end from `start`: holes between them are gaps, overlaps (none in a storyline) trimmed."""
    placed, at = [], start
    for piece in sorted(pieces, key=lambda p: p.at):
        if piece.at > at:
            placed.append(Piece(at, piece.at - at))
        cut = max(Fraction(0), at - piece.at)
        if piece.length > cut:
            placed.append(Piece(piece.at + cut, piece.length - cut, piece.file, piece.source_in + cut, piece.name))
            at = piece.at + piece.length
    return placed


def _first_item(spine: ET.Element) -> ET.Element | None:
    """The storyline's first story element: where it starts, and what the music is anchored to."""
    return next((item for item in spine if item.tag in _STORY and item.get("lane") in (None, "0")), None)


def _has_pictures(asset: ET.Element, file: Path) -> bool:
    """Final Cut Pro marks an asset's video (hasVideo); a document another program wrote may not, so then the
    file's kind says."""
    if asset.get("hasVideo") is not None:
        return asset.get("hasVideo") == "1"
    return file.suffix.lower() in config.VIDEO_EXTENSIONS + config.IMAGE_EXTENSIONS


def _asset_file(asset: ET.Element, path: Path) -> Path:
    rep = next((r for r in asset.iterfind("media-rep") if r.get("kind", "original-media") == "original-media"), None)
    src = rep.get("src") if rep is not None else asset.get("src")
    if not src:
        raise UserError(f"asset {asset.get('name', asset.get('id'))!r} names no media file", path)
    url = urlparse(src)
    if url.scheme not in ("", "file"):
        raise UserError(f"asset {asset.get('name', asset.get('id'))!r}: {src} is not a file on this computer", path)
    file = Path(url2pathname(url.path))  # unescaped; on Windows, "/C:/Users/..." is C:\Users\...
    return file if file.is_absolute() else path.parent / file


def _parse(document: Path, path: Path) -> ET.Element:
    try:
        root = ET.parse(document).getroot()
    except FileNotFoundError:
        raise UserError("project not found" if document == path else f"no {BUNDLE_DOCUMENT} in the bundle",
                        path) from None
    except (ET.ParseError, OSError) as exc:
        raise UserError(f"not a readable FCPXML document ({exc})", path) from None
    if root.tag != "fcpxml":
        raise UserError("not an FCPXML document (its root element is not <fcpxml>)", path)
    return root


def _project(root: ET.Element, path: Path) -> ET.Element:
    """The document's one project; an event's or a library's export, holding several, names them (which one is
    meant is not for this to guess)."""
    projects = list(root.iter("project"))
    if len(projects) != 1:
        names = ", ".join(repr(p.get("name", "")) for p in projects)
        raise UserError(f"the document holds {f'{len(projects)} projects ({names})' if projects else 'no project'}: "
                        "in Final Cut Pro, select the one project in the browser, then File › Export XML…", path)
    return projects[0]


def _anchor(parent: ET.Element, clip: ET.Element) -> None:
    """`clip` anchored to `parent`: after the items anchored to it already, before its markers, filters and
    metadata, as the DTD orders them."""
    children = list(parent)
    place = next((k for k, child in enumerate(children) if child.tag in _AFTER_ANCHORS), len(children))
    clip.tail = parent.text if place == 0 and parent.text and not parent.text.strip() else "\n"
    parent.insert(place, clip)


def _version(root: ET.Element) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in root.get("version", "1.0").split("."))
    except ValueError:
        return (1, 0)


def _time(text: str | None) -> Fraction:
    """An FCPXML time ("1001/30000s", "5s") as seconds."""
    match = _TIME.match(text or "")
    if match is None:
        raise ValueError(f"not an FCPXML time: {text!r}")
    return Fraction(int(match.group(1)), int(match.group(2) or 1))


def _text(seconds: Fraction) -> str:
    """Seconds as an FCPXML time."""
    seconds = Fraction(seconds)
    return f"{seconds.numerator}s" if seconds.denominator == 1 else f"{seconds.numerator}/{seconds.denominator}s"
