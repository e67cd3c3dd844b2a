"""A slideshow: photos, and videos among them, shown one after another as one film and scored as one piece (`cotvtm
score PHOTOS... --slideshow`, the app's Slideshow, `cotvtm batch --slideshow` for each folder).

The order is the one given; a folder's photos and videos come in the order they were taken (EXIF DateTimeOriginal, a
video's creation_time), or by name when some of them carry no date; an iPhone's Live Photo shows as its photo,
without its short video (live_photo_motions), and a burst as its sharpest shot (similar_shots). Each photo is on
screen for `photo_seconds`, or for its own seconds where the user holds it longer or shorter (`--hold
NAME=SECONDS`), or for its share of the film's length (`--film-length`: photo_times); with the procedural backend,
for whole bars of the music, so that the pictures change on the downbeat (fitted_to_bars). It moves slowly, as
slideshow makers move a still (the "Ken Burns" effect): a zoom in on one photo, out on the next, at a speed the eye
sees as steady (the scale changes by a constant factor per frame), and a pan across the third, framed on the faces
in it (analysis/faces.py). A photo whose shape differs from the frame's by more than a trim shows whole over a
blurred, darkened fill of itself, as phones show one; a video shows whole, with its sound. The changes are cuts (or
dissolves), which the music marks (music/arranger.py); the film fades in from black and out to black with its music,
under its title and captions (Overlay), which keep off the faces (off_faces). The picture is made full size by
media/proxy.py's pieces; the frames of a moving photo are made here.
"""

from __future__ import annotations

import functools
import math
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import av
import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import BadMediaError, UserError
from cotvtm_desktop.media.images import load_picture, open_image
from cotvtm_desktop.media.probe import MediaInfo, is_image_path, probe
from cotvtm_desktop.media.segments import clock
from cotvtm_desktop.media.timeline import Clip

_FRAME_WORKERS = 4  # threads making a moving photo's frames, at most one per core
_EXIF_IFD, _DATE_TAKEN, _OFFSET_TAKEN = 0x8769, 36867, 36881  # Exif sub-IFD, DateTimeOriginal, OffsetTimeOriginal


@dataclass(frozen=True)
class StillMove:
    """A photo's slow move over its time on screen (`seconds`, from `lead` seconds before its clip starts where it
    dissolves in): a zoom from `zoom_from` times the frame-filling size to `zoom_to`, and a pan of its window across
    the frame's longer side, from `pan_from` to `pan_to` (-1: the window against the photo's left or top edge, 0:
    centred, 1: against the right or bottom edge). With a `subject` (the box around the faces the photo is of, as
    fractions of its width and height: analysis/faces.py), the photo is cropped around it and zooms on it."""

    zoom_from: float
    zoom_to: float
    seconds: float
    lead: float = 0.0
    pan_from: float = 0.0
    pan_to: float = 0.0
    subject: tuple[float, float, float, float] | None = None

    def progress(self, at: float) -> float:
        return min(max((at + self.lead) / self.seconds, 0.0), 1.0)

    def zoom(self, at: float) -> float:
        """The zoom `at` seconds into the photo's clip: geometric, so that each frame scales by the same factor."""
        return self.zoom_from * (self.zoom_to / self.zoom_from) ** self.progress(at)

    def pan(self, at: float) -> float:
        """Where the window lies along the frame's longer side `at` seconds into the photo's clip: at a steady
        speed."""
        return self.pan_from + (self.pan_to - self.pan_from) * self.progress(at)

    def window(self, at: float, focus: tuple[float, float], along: int) -> list[tuple[float, float]]:
        """The part of the composed photo (composed_still) the frame shows `at` seconds into the photo's clip: where
        it begins and ends across and down, as fractions of the picture's width and height. The zoom keeps the
        subject's point of the picture (`focus`: composed_focus) where it is in the frame, so that it closes in on
        the faces; a pan carries the window along the frame's longer side (`along`: 0 across, 1 down) by what the
        zoom leaves over."""
        zoom, pan, edges = self.zoom(at), self.pan(at), []
        half = 0.5 / zoom
        for axis, point in enumerate(focus):
            if axis == along and self.pan_from != self.pan_to:
                middle = 0.5 + pan * (0.5 - half)
            else:
                middle = point + (0.5 - point) / zoom
            edges.append((middle - half, middle + half))
        return edges

    def identity(self) -> list:
        """What the move is, for a cache key."""
        return [self.zoom_from, self.zoom_to, round(self.seconds, 4), round(self.lead, 4), self.pan_from,
                self.pan_to, [round(edge, 4) for edge in self.subject] if self.subject else None]


@dataclass(frozen=True)
class Dissolve:
    """A clip dissolving with the photo beside it over `seconds`, at their join, which lies `at` seconds into its own
    clip and `other_at` into the other's: centred on the join between two photos (`side` 0); a video, which has no
    frames beyond its ends, dissolves over its own first seconds (`side` 1) or last (-1), the photo held into them."""

    other: MediaInfo
    other_move: StillMove
    seconds: float
    at: float
    other_at: float
    side: int = 0

    def window(self) -> tuple[float, float]:
        """Where the dissolve runs, in seconds of its own clip."""
        if self.side == 0:
            return self.at - self.seconds / 2, self.at + self.seconds / 2
        return (self.at, self.at + self.seconds) if self.side > 0 else (self.at - self.seconds, self.at)

    def weight(self, at: float) -> float | None:
        """The clip's own share of the picture `at` seconds into it (the photo beside it has the rest), at a steady
        pace; None outside the dissolve. Centred: from a half at the join to all at the window's ends; a video's:
        from none at the join to all at the window's other end."""
        off = at - self.at
        if self.side == 0:
            return 0.5 + abs(off) / self.seconds if abs(off) < self.seconds / 2 else None
        return off * self.side / self.seconds if 0 <= off * self.side < self.seconds else None

    def identity(self) -> list:
        """What the dissolve is, for a cache key."""
        return [str(self.other.path), *self.other_move.identity(), round(self.seconds, 4), round(self.at, 4),
                round(self.other_at, 4), self.side]


def slideshow_clips(paths: list[Path], photo_seconds: float, held: dict[str, float] | None = None,
                    film_length: float | None = None, keep_similar: bool = False) -> tuple[list[Clip], list[str]]:
    """The photos (each `photo_seconds` long, or as long as `held` says: seconds by file name or path; with
    `film_length`, sharing what the videos leave of it in those proportions: film_lasting) and videos (each whole)
    one after another, in the order given; and why each file left out is: one that cannot be read (a cut-short copy,
    not a picture: one bad photo in a folder of hundreds does not stop the film), the moving part of a Live Photo
    whose photo shows (live_photo_motions), or, unless `keep_similar`, a shot of the moment the photo beside it
    shows (similar_shots: a burst's; never a held photo, nor one of two that would leave the film a single
    picture)."""
    holds = {name: (seconds, [_named(path, name) for path in paths]) for name, seconds in (held or {}).items()}
    for name, (_, matches) in holds.items():
        if not any(matches):
            listed = ", ".join(path.name for path in paths[:5]) + (", …" if len(paths) > 5 else "")
            raise UserError(f"--hold {name}: the slideshow shows no file of that name ({listed}); name a photo as "
                            "its file is named, or give its path")
    infos: list[MediaInfo | None] = []
    unreadable: list[BadMediaError] = []
    for path in paths:
        try:
            infos.append(probe(path))
        except BadMediaError as exc:
            unreadable.append(exc)
            infos.append(None)
    read = {path: info for path, info in zip(paths, infos) if info is not None}
    motions = live_photo_motions(list(read), {p: i.duration for p, i in read.items() if i.kind == "video"})
    shown = [path for path, info in zip(paths, infos) if info is not None and path not in motions]
    similar = {} if keep_similar else similar_shots(
        shown, {path for k, path in enumerate(paths) if any(matches[k] for _, matches in holds.values())})
    if len(shown) - len(similar) < 2:
        similar = {}
    left_out = [str(exc) for exc in unreadable] + [f"{path}: the moving part of the Live Photo {photo.name}, which "
                                                   "shows instead" for path, photo in motions.items()]
    left_out += [f"{path}: a shot of the moment {kept.name} shows, beside it (of a burst the sharpest "
                 "shows, or the one held; --keep-similar shows every one)" for path, kept in similar.items()]
    clips, offset = [], 0.0
    for k, (path, info) in enumerate(zip(paths, infos)):
        if info is None or path in motions or path in similar:
            continue
        own = [(name, seconds) for name, (seconds, matches) in holds.items() if matches[k]]
        if own and info.kind == "video":
            raise UserError(f"--hold {own[0][0]}: a video is shown whole; hold photos only", path)
        seconds = info.duration if info.kind == "video" else own[-1][1] if own else photo_seconds
        clips.append(Clip(info, 0.0, seconds, offset))
        offset += seconds
    if len(clips) < 2:
        if unreadable and len(paths) >= 2:
            raise unreadable[0]
        raise UserError("--slideshow shows two or more photos or videos one after another; name them, or a folder")
    return (film_lasting(clips, film_length) if film_length else clips), left_out


def film_lasting(clips: list[Clip], seconds: float) -> list[Clip]:
    """The clips with their photos' times scaled alike (photo_times), so that the film lasts `seconds`."""
    photos = [c.duration for c in clips if c.info.kind == "image"]
    times = iter(photo_times(photos, sum(c.duration for c in clips if c.info.kind == "video"), seconds))
    fitted, offset = [], 0.0
    for clip in clips:
        length = clip.duration if clip.info.kind == "video" else next(times)
        fitted.append(Clip(clip.info, clip.source_in, clip.source_in + length, offset))
        offset += length
    return fitted


def photo_times(wanted: list[float], videos: float, seconds: float) -> list[float]:
    """The photos' times, `wanted` scaled alike, for a film of `seconds` whose videos last `videos` in all: each
    photo within SLIDESHOW_PHOTO_SECONDS_RANGE (so a film of few photos may stay shorter, of many, be longer); a
    UserError, saying why, where they cannot fit."""
    low, high = config.SLIDESHOW_PHOTO_SECONDS_RANGE
    if not wanted:
        raise UserError("--film-length shares the film's time among its photos; these are all videos, each shown "
                        "whole (leave out --film-length)")
    if seconds - videos < low * len(wanted):
        raise UserError(f"--film-length {clock(seconds)} gives its {len(wanted)} photos less than {low:g} s each" +
                        (f" (its videos alone last {clock(videos)})" if videos else "") +
                        "; give a longer length, or fewer files")
    scale = (seconds - videos) / sum(wanted)
    return [min(high, max(low, time * scale)) for time in wanted]


def folder_title(title: str, folder: Path) -> str:
    """A film's title as shown: its words on one line, `{folder}` in it standing for the name of the `folder` its
    pictures came from (`batch --slideshow --title '{folder}'`: each film titled as its folder is named)."""
    return " ".join(title.replace("{folder}", folder.name).split())


def live_photo_motions(paths: list[Path], video_seconds: dict[Path, float]) -> dict[Path, Path]:
    """The videos among `paths` (those in `video_seconds`, with their lengths) that are the moving part of a Live
    Photo among them, each with its photo: an iPhone keeps one as IMG_1234.HEIC and IMG_1234.MOV side by side (the
    same name in the same folder, the video at most LIVE_PHOTO_SECONDS long). A slideshow shows the photo, moving as
    its photos do, rather than the same moment twice."""
    photos = {(path.parent, path.stem.casefold()): path for path in paths if is_image_path(path)}
    return {path: photos[path.parent, path.stem.casefold()] for path, seconds in video_seconds.items()
            if seconds <= config.LIVE_PHOTO_SECONDS and (path.parent, path.stem.casefold()) in photos}


def _named(path: Path, name: str) -> bool:
    """Whether `name` (a --hold's) names the file `path`: its file name, or a path to it."""
    return name == path.name or Path(name).expanduser().resolve() == path.resolve()


def fitted_to_bars(clips: list[Clip], bar: float, film_length: float | None = None) -> list[Clip]:
    """The clips with each photo on screen for the whole number of `bar`s (the music's, seconds) nearest the seconds
    it was given, one at least, so that the pictures change on the downbeat; videos as they are. With
    `film_length`, the photos share the whole bars nearest what the videos leave of it instead, each in proportion
    to its seconds (rounding each alone could miss the length by half a bar a photo)."""
    photos = [k for k, clip in enumerate(clips) if clip.info is not None and clip.info.kind == "image"]
    wanted = [clips[k].duration / bar for k in photos]
    if film_length is None or not photos:
        counts = [max(1, round(bars)) for bars in wanted]
    else:
        videos = sum(clip.duration for k, clip in enumerate(clips) if k not in photos)
        counts = _apportioned(wanted, max(len(photos), round((film_length - videos) / bar)))
    bars = dict(zip(photos, counts))
    fitted, offset = [], 0.0
    for k, clip in enumerate(clips):
        seconds = bars[k] * bar if k in bars else clip.duration
        fitted.append(Clip(clip.info, clip.source_in, clip.source_in + seconds, offset))
        offset += seconds
    return fitted


def _apportioned(wanted: list[float], total: int) -> list[int]:
    """`total` whole bars shared out in proportion to `wanted`, one each at least (the largest remainder method:
    each its whole share, then one more to those left furthest short)."""
    exact = [bars * total / sum(wanted) for bars in wanted]
    counts = [max(1, math.floor(share)) for share in exact]
    shortest = sorted(range(len(exact)), key=lambda k: counts[k] - exact[k])
    for k in shortest[:max(0, total - sum(counts))]:
        counts[k] += 1
    for k in sorted(range(len(exact)), key=lambda k: exact[k] - counts[k]):  # over by the forced ones: take back
        if sum(counts) > total and counts[k] > 1:
            counts[k] -= 1
    return counts


def bar_lines(clips: list[Clip], bar: float) -> list[float]:
    """The bar lines inside the photos that fitted_to_bars held for more than one `bar`: where a segment of the
    music may begin mid-photo and keep the bar, so that the pictures after it still change on its downbeats."""
    return [clip.offset + k * bar for clip in clips if clip.info is not None and clip.info.kind == "image"
            for k in range(1, round(clip.duration / bar))]


# The photos' moves in turn, as (zoom from, to), (pan from, to): in, out, across (at the zoom's closest, so that the
# window has room to travel), in, out, back across; a pan follows the longer side, as the eye reads a wide picture,
# and ends on the side where the faces are, where they lie further than _PAN_TOWARDS from the middle (a fraction of
# the frame's side)
_PAN_TOWARDS = 0.05
_NEAR = config.SLIDESHOW_ZOOM
_MOVES = (((1.0, _NEAR), (0.0, 0.0)), ((_NEAR, 1.0), (0.0, 0.0)), ((_NEAR, _NEAR), (-1.0, 1.0)),
          ((1.0, _NEAR), (0.0, 0.0)), ((_NEAR, 1.0), (0.0, 0.0)), ((_NEAR, _NEAR), (1.0, -1.0)))


def still_moves(clips: list[Clip], frame: tuple[int, int], dissolve: float = 0.0
                ) -> list[tuple[StillMove | None, tuple[Dissolve, ...]]]:
    """Each clip's move in a film of `frame`'s size (width, height): zooming in on the first photo, out on the next,
    across the third, and so on (_MOVES), framed on the faces in it (photo_subjects); None for a video. And its
    dissolves: with `dissolve` seconds, a photo dissolves into the photo or video beside it over that long: two
    photos centred on their join (half the shorter one's time at most), a photo and a video over the video's first
    or last seconds (half its time at most), the photo moving on into them; two videos cut."""
    photo = [c.info is not None and c.info.kind == "image" for c in clips]
    joins = []  # (seconds, how far each side's picture runs past the join)
    for a, b, a_photo, b_photo in zip(clips, clips[1:], photo, photo[1:]):
        if a_photo and b_photo:
            seconds = min(dissolve, a.duration / 2, b.duration / 2)
            joins.append((seconds, seconds / 2, seconds / 2))
        elif a_photo or b_photo:
            seconds = min(dissolve, (b if a_photo else a).duration / 2)
            joins.append((seconds, seconds * a_photo, seconds * b_photo))
        else:
            joins.append((0.0, 0.0, 0.0))
    before = [(0.0, 0.0, 0.0), *joins]  # each clip's join with the one before, and with the one after
    after = [*joins, (0.0, 0.0, 0.0)]
    subjects = photo_subjects([clip.info for clip, is_photo in zip(clips, photo) if is_photo])
    moves, photos = [], 0
    for clip, is_photo, (_, _, lead), (_, tail, _) in zip(clips, photo, before, after):
        zooms, pans = _MOVES[photos % len(_MOVES)]
        if is_photo:
            subject = subjects[clip.info.path]
            towards = composed_focus(clip.info, *frame, subject)[0 if frame[0] >= frame[1] else 1] - 0.5
            if pans[0] != pans[1] and abs(towards) > _PAN_TOWARDS:
                pans = (-math.copysign(1.0, towards), math.copysign(1.0, towards))
            moves.append(StillMove(*zooms, lead + clip.duration + tail, lead, *pans, subject))
        else:
            moves.append(None)
        photos += is_photo
    result = []
    for i, (clip, move) in enumerate(zip(clips, moves)):
        dissolves = []
        # a photo's picture holds none of a video's time: the video's clip does the dissolving
        if before[i][0] and moves[i - 1] is not None:
            dissolves.append(Dissolve(clips[i - 1].info, moves[i - 1], before[i][0], 0.0, clips[i - 1].duration,
                                      0 if move is not None else 1))
        if after[i][0] and moves[i + 1] is not None:
            dissolves.append(Dissolve(clips[i + 1].info, moves[i + 1], after[i][0], clip.duration, 0.0,
                                      0 if move is not None else -1))
        result.append((move, tuple(dissolves)))
    return result


def photo_subjects(photos: list[MediaInfo]) -> dict[Path, tuple[float, float, float, float] | None]:
    """Each photo's subject: the box around the faces it is of (analysis/faces.py; None where there are none),
    looked for on a few threads (the face detector's graphs and Pillow's decoding run without the GIL)."""
    from cotvtm_desktop.analysis.faces import faces_in, subject

    unique = list({photo.path: photo for photo in photos}.values())
    if not unique:
        return {}
    with ThreadPoolExecutor(min(_FRAME_WORKERS, os.cpu_count() or 1, len(unique))) as pool:
        found = pool.map(lambda photo: subject(faces_in(photo.path, (photo.width, photo.height))), unique)
        return dict(zip((photo.path for photo in unique), found))


def similar_shots(paths: list[Path], keep: set[Path] = frozenset()) -> dict[Path, Path]:
    """The photos among `paths` (in the order shown) that are shots of the moment the photo beside them shows, each
    with the photo of their run that shows instead: a burst, or the same picture taken twice or three times — photos
    next to each other, taken within SIMILAR_SHOT_SECONDS of each other (so both must say when: a photo without
    EXIF's date is never left out) and all but alike (their small pictures differ by under SIMILAR_SHOT_DIFFERENCE
    of the full scale, on average), the same way up. Of each run the one in `keep` shows (a photo the user holds
    longer), else the sharpest; a video between two photos parts them. Only photos taken that close to the one
    beside them are decoded (a phone's HEIC whole: a third of a second each)."""
    taken = {path: taken_at(path) for path in paths if is_image_path(path)}
    shots: dict[Path, _Shot | None] = {}

    def shot(path: Path) -> _Shot | None:
        if path not in shots:
            try:
                shots[path] = _shot(path)
            except BadMediaError:
                shots[path] = None  # unreadable: it parts the shots beside it, and is named where it is shown
        return shots[path]

    runs: list[list[Path]] = []
    for before, path in zip([None, *paths], paths):
        moments = taken.get(before), taken.get(path)
        close = None not in moments and abs((moments[1] - moments[0]).total_seconds()) <= config.SIMILAR_SHOT_SECONDS
        if close and before != path and shot(before) and shot(path) and shot(before).alike(shot(path)):
            runs[-1].append(path)
        else:
            runs.append([path])
    left_out = {}
    for run in filter(lambda run: len(run) > 1, runs):
        shown = next((path for path in run if path in keep), None) or max(run, key=lambda p: shots[p].sharpness)
        left_out.update({path: shown for path in run if path != shown and path not in keep})
    return left_out


@dataclass(frozen=True)
class _Shot:
    """What similar_shots compares of a photo: its picture at SIMILAR_SHOT_SIDE² (RGB, 0 to 1), how sharp it is (the
    variance of the Laplacian of its grey picture at 256 pixels on its longer side: a shaken or missed-focus shot
    has less fine detail), and which way up it is."""

    small: np.ndarray
    sharpness: float
    wide: bool

    def alike(self, other: _Shot) -> bool:
        return self.wide == other.wide and float(np.abs(self.small - other.small).mean()) < \
            config.SIMILAR_SHOT_DIFFERENCE


def _shot(path: Path) -> _Shot:
    from PIL import Image

    picture = load_picture(path, (256, 256))  # a JPEG decoded at 1/8 of a phone photo's size
    scale = 256 / max(picture.size)
    size = (max(3, round(picture.width * scale)), max(3, round(picture.height * scale)))
    grey = np.asarray(picture.convert("L").resize(size, Image.Resampling.BOX), np.float32)
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    side = config.SIMILAR_SHOT_SIDE
    small = np.asarray(picture.resize((side, side), Image.Resampling.BOX), np.float32) / 255
    return _Shot(small, float(laplacian.var()), picture.width >= picture.height)


def in_taken_order(paths: list[Path], taken: list[datetime | None] | None = None) -> list[Path]:
    """`paths` in the order they were taken (`taken`, each one's taken_at, where the caller read them already),
    when each says when; else as they are (a folder's: by name)."""
    taken = [taken_at(path) for path in paths] if taken is None else taken
    if any(moment is None for moment in taken):
        return list(paths)
    return [path for _, _, path in sorted(zip(taken, range(len(paths)), paths))]


def taken_at(path: Path) -> datetime | None:
    """When a photo or video was taken, in UTC: a photo's EXIF DateTimeOriginal (at its OffsetTimeOriginal, else
    this computer's time zone, as the camera's clock most likely was), a video's creation_time; None if unstated."""
    stamp = _clock_taken(path)
    if stamp is None:
        return None
    moment, offset = stamp
    return moment - offset if offset is not None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def day_taken(path: Path) -> date | None:
    """The day a photo or video was taken, on the clock where it was: a photo's by its camera's clock, a video's
    (stated in UTC) in this computer's time zone; None if unstated."""
    stamp = _clock_taken(path)
    return stamp[0].date() if stamp else None


def _clock_taken(path: Path) -> tuple[datetime, timedelta | None] | None:
    """When a photo or video was taken, as the clock where it was showed it, and that clock's offset from UTC where
    it is known (a photo's OffsetTimeOriginal; a video's UTC time is shown in this computer's time zone)."""
    try:
        if is_image_path(path):
            with open_image(path) as image:
                exif = image.getexif().get_ifd(_EXIF_IFD)
            stamp = datetime.strptime(str(exif.get(_DATE_TAKEN, "")).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
            offset = str(exif.get(_OFFSET_TAKEN, "")).strip("\x00 ")
            if offset:  # the camera's own: +02:00
                sign, (hours, minutes) = (-1 if offset[0] == "-" else 1), map(int, offset[1:].split(":"))
                return stamp, sign * timedelta(hours=hours, minutes=minutes)
            return stamp, None
        with av.open(str(path)) as container:
            stamp = container.metadata.get("creation_time", "")
        if not stamp:
            return None
        local = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
        return local.replace(tzinfo=None), local.utcoffset()
    except (OSError, ValueError, RuntimeError, av.FFmpegError):
        return None  # unreadable or undated: the file is checked, and named if bad, as it is probed


# The words of a day's caption, in English as the app's are (not strftime's, which follow the process's locale)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def film_captions(clips: list[Clip], dates: bool = True, places: bool = False) -> tuple[Caption, ...]:
    """The film's captions, each over the picture where something it says begins, from SLIDESHOW_CAPTION_SECONDS[0]
    into it for up to [1] seconds: with `dates`, the day each of the film's days begins on ("Tuesday 2 July
    2024"); with `places`, the town where its pictures move to ("Florence, Italy": media/places.py), and with both,
    a new day says where it begins too ("Wednesday 3 July 2024 · Florence, Italy"). A picture that does not say
    when or where it was taken changes neither."""
    from cotvtm_desktop.media.places import place_name, position_taken

    captions, day_shown, place_shown = [], None, None
    delay, longest = config.SLIDESHOW_CAPTION_SECONDS
    for clip in clips:
        if clip.info is None:
            continue
        day = day_taken(clip.info.path) if dates else None
        position = position_taken(clip.info.path) if places else None
        place = place_name(position) if position else None
        new_day, new_place = day not in (None, day_shown), place not in (None, place_shown)
        seconds = min(longest, clip.duration - delay)
        if (new_day or new_place) and seconds > 0:
            words = [f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"] if new_day else []
            captions.append(Caption(" · ".join([*words, *([place] if place else [])]), round(clip.offset + delay, 4),
                                    round(seconds, 4)))
        day_shown, place_shown = day or day_shown, place or place_shown
    return tuple(captions)


@dataclass(frozen=True)
class Caption:
    """Words low over the film from `start` for `seconds` of its clock (the day or place its pictures were taken),
    fading in and out over SLIDESHOW_CAPTION_FADE; their `middle` that far down the frame (off_faces places it)."""

    text: str
    start: float
    seconds: float
    middle: float = config.SLIDESHOW_CAPTION_MIDDLES[0]

    def share(self, film_at: float) -> float:
        """How much of it shows `film_at` seconds into the film."""
        into, fade = film_at - self.start, config.SLIDESHOW_CAPTION_FADE
        return float(np.clip(min(into, self.seconds - into) / fade, 0.0, 1.0))


@dataclass(frozen=True)
class Overlay:
    """What shows over a slideshow's pictures by the film's clock: its `title` over the opening (title_share), its
    `captions` (the days and places its pictures were taken: film_captions), and its fades, from black over its
    first `fade_in` seconds and to black over its last `fade_out` of `seconds`: the music's own fades, so that
    picture and sound begin and end together."""

    title: str = ""
    fade_in: float = 0.0
    fade_out: float = 0.0
    seconds: float = 0.0  # the film's length, where it fades out
    captions: tuple[Caption, ...] = ()
    title_middle: float = config.SLIDESHOW_TITLE_MIDDLES[0]  # how far down the frame (off_faces places it)

    def within(self, start: float, end: float) -> Overlay | None:
        """What of it shows from the film's `start` to `end` seconds (None: nothing), for the piece of the picture
        there: what does not touch the piece is left out, so that a change elsewhere (a longer film) leaves it as it
        was."""
        begin, until = config.SLIDESHOW_TITLE_SECONDS
        titled = bool(self.title) and start < until and end > begin
        ending = self.fade_out > 0 and end > self.seconds - self.fade_out
        shown = Overlay(self.title if titled else "", self.fade_in if start < self.fade_in else 0.0,
                        self.fade_out if ending else 0.0, self.seconds if ending else 0.0,
                        tuple(c for c in self.captions if c.start < end and c.start + c.seconds > start),
                        self.title_middle if titled else Overlay.title_middle)
        return None if shown == Overlay() else shown

    def light(self, film_at: float) -> float:
        """How much of the picture shows `film_at` seconds into the film (0: black), as the music's fades go."""
        rising = film_at / self.fade_in if self.fade_in > 0 else 1.0
        falling = (self.seconds - film_at) / self.fade_out if self.fade_out > 0 else 1.0
        return float(np.clip(rising, 0.0, 1.0) * np.clip(falling, 0.0, 1.0))

    def over(self, frame: np.ndarray, film_at: float) -> np.ndarray:
        """An I420 frame (still_frames') as it shows `film_at` seconds into the film: under the title and captions,
        faded."""
        if self.title:
            frame = under_words(frame, self.title, title_share(film_at), config.SLIDESHOW_TITLE_HEIGHT,
                                self.title_middle)
        for caption in self.captions:
            frame = under_words(frame, caption.text, caption.share(film_at), config.SLIDESHOW_CAPTION_HEIGHT,
                                caption.middle)
        light = self.light(film_at)
        if light >= 1:
            return frame
        luma = frame.shape[0] * 2 // 3  # Y' toward 16, Cb and Cr toward 128: video levels' black
        black = np.full(frame.shape, 128, np.float32)
        black[:luma] = 16
        return np.rint(black + (frame - black) * np.float32(light)).astype(np.uint8)


def still_frames(info: MediaInfo, move: StillMove, start: float, frames: int, fps: int, width: int,
                 height: int, dissolves: tuple[Dissolve, ...] = (), overlay: Overlay | None = None,
                 film_start: float = 0.0) -> Iterator[np.ndarray]:
    """`frames` frames of the photo `info` moving by `move`, from `start` seconds into its clip (`film_start` into
    the film); over its `dissolves`, blended with the photo beside it (half each at the join); under the film's
    `overlay` (its title, its fades). Each frame is a width × height picture in BT.709 video levels, 4:2:0 (I420:
    the Y' rows, then Cb's and Cr's at half size, as one uint8 array of height × 3/2 rows), as H.264 takes it:
    resampling the photo's three planes at the sizes the encoder keeps them is about half the work of resampling it
    in RGB, and the encoder converts nothing."""
    from PIL import Image

    stills: dict[Path, tuple] = {}  # each photo composed once, before the threads start

    def picture(photo: MediaInfo, photo_move: StillMove, at: float) -> list:
        # the window of the composed photo that fills the frame at this moment, to the sub-pixel
        if photo.path not in stills:
            largest = max(photo_move.zoom_from, photo_move.zoom_to)
            stills[photo.path] = (composed_planes(photo, round(width * largest), round(height * largest),
                                                  photo_move.subject),
                                  composed_focus(photo, width, height, photo_move.subject))
        planes, focus = stills[photo.path]
        (left, right), (top, bottom) = photo_move.window(at, focus, 0 if width >= height else 1)
        return [plane.resize(size, Image.Resampling.BICUBIC, box=(left * plane.width, top * plane.height,
                                                                  right * plane.width, bottom * plane.height))
                for plane, size in zip(planes, ((width, height), (width // 2, height // 2), (width // 2, height // 2)))]

    def frame(number: int) -> np.ndarray:
        at = start + number / fps
        shown = picture(info, move, at)
        for dissolve in dissolves:
            weight = dissolve.weight(at)
            if weight is not None:
                other = picture(dissolve.other, dissolve.other_move, dissolve.other_at + at - dissolve.at)
                shown = [Image.blend(o, p, weight) for o, p in zip(other, shown)]
        made = np.concatenate([np.asarray(plane).reshape(-1) for plane in shown]).reshape(-1, width)
        return overlay.over(made, film_start + number / fps) if overlay else made

    for photo, photo_move in ((info, move), *((d.other, d.other_move) for d in dissolves)):
        picture(photo, photo_move, 0.0)
    workers = min(_FRAME_WORKERS, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="still-frames") as pool:  # Pillow resizes without the GIL
        ahead: deque[Future] = deque()
        for number in range(frames):
            ahead.append(pool.submit(frame, number))
            if len(ahead) > 2 * workers:  # a few frames made ahead, in order
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def fills_frame(info: MediaInfo, width: int, height: int) -> bool:
    """Whether a photo or video of `info`'s shape is shown filling a width × height frame (cropped to it), as it is
    when that trims at most SLIDESHOW_COVER_CROP of it, rather than whole over a blurred fill of itself."""
    ratio = info.width / info.height / (width / height)
    return min(ratio, 1 / ratio) >= 1 - config.SLIDESHOW_COVER_CROP


@functools.lru_cache(maxsize=3)  # a piece dissolving with its neighbours uses them: the next piece, two of them
def composed_planes(info: MediaInfo, width: int, height: int,
                    subject: tuple[float, float, float, float] | None = None) -> tuple:
    """composed_still in BT.709 video levels, as H.264 keeps a picture: Y' width × height, Cb and Cr at half that
    (each the mean of a 2 × 2 block, centred on it), each an 8-bit greyscale PIL image."""
    from PIL import Image

    planes = _video_levels(np.asarray(composed_still(info, width, height, subject), dtype=np.float32) / 255)
    return tuple(Image.fromarray(np.clip(np.rint(plane), 0, 255).astype(np.uint8)) for plane in planes)


def _video_levels(rgb: np.ndarray) -> list[np.ndarray]:
    """An RGB picture (floats 0 to 1, even sides) as BT.709 video levels: Y', and Cb and Cr each the mean of a
    2 × 2 block."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    planes = [16 + 219 * luma]
    for difference, scale in ((blue - luma, 1.8556), (red - luma, 1.5748)):  # 2 (1 - Kb), 2 (1 - Kr)
        planes.append(128 + 224 / scale * _halved(difference))
    return planes


def _halved(plane: np.ndarray) -> np.ndarray:
    """A plane at half its size, each value the mean of a 2 × 2 block (an odd side's last row or column doubled):
    a picture's chroma as 4:2:0 keeps it."""
    padded = np.pad(plane, ((0, plane.shape[0] % 2), (0, plane.shape[1] % 2)), mode="edge")
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).mean(axis=(1, 3))


def title_share(film_at: float) -> float:
    """How much of the title shows `film_at` seconds into the film: fading in, held, fading out."""
    (begin, end), fade = config.SLIDESHOW_TITLE_SECONDS, config.SLIDESHOW_TITLE_FADE
    return float(np.clip(min(film_at - begin, end - film_at) / fade, 0.0, 1.0))


def under_words(frame: np.ndarray, words: str, share: float, letters: float, middle: float) -> np.ndarray:
    """An I420 frame under `words` (letters that high, a fraction of the frame's height, centred across it and
    `middle` of the way down), showing by `share` (0: not at all)."""
    if share <= 0:
        return frame
    colour, alpha = words_layer(words, frame.shape[1], frame.shape[0] * 2 // 3, letters, middle)
    flat = frame.reshape(-1).astype(np.float32)
    return np.rint(flat + (colour - flat) * (alpha * share)).astype(np.uint8).reshape(frame.shape)


@functools.lru_cache(maxsize=4)
def words_layer(words: str, width: int, height: int, letters: float, middle: float) -> tuple[np.ndarray, np.ndarray]:
    """Words as a width × height I420 layer: its colours and how much each covers what is under it (flat, in I420's
    order): white letters `letters` of its height high (smaller if they would not fit across), centred across it
    and `middle` of the way down, on a soft shadow that keeps them legible on a bright photo."""
    from PIL import Image, ImageDraw, ImageFilter

    font = _words_font(words, width, height, letters)
    drawn = Image.new("L", (width, height))
    ImageDraw.Draw(drawn).text((width / 2, height * middle), words, fill=255, font=font, anchor="mm")
    shadow = np.asarray(drawn.filter(ImageFilter.GaussianBlur(_shadow_blur(font))), np.float32) / 255 * 0.7
    cover = np.asarray(drawn, np.float32) / 255
    alpha = cover + shadow * (1 - cover)  # letters over their shadow
    white = np.divide(cover, alpha, out=np.zeros_like(cover), where=alpha > 0)  # black shadow, white letters
    colour = _video_levels(np.repeat(white[..., None], 3, axis=2))
    alphas = [alpha, *[_halved(alpha)] * 2]
    return (np.concatenate([plane.reshape(-1) for plane in colour]).astype(np.float32),
            np.concatenate([plane.reshape(-1) for plane in alphas]).astype(np.float32))


def words_box(words: str, width: int, height: int, letters: float, middle: float) -> tuple[float, float, float, float]:
    """The box words_layer's `words` and their shadow cover (left, top, right, bottom, as fractions of the frame's
    width and height)."""
    font = _words_font(words, width, height, letters)
    left, top, right, bottom = font.getbbox(words, anchor="mm")
    reach = 2 * _shadow_blur(font)
    return ((width / 2 + left - reach) / width, (height * middle + top - reach) / height,
            (width / 2 + right + reach) / width, (height * middle + bottom + reach) / height)


def _words_font(words: str, width: int, height: int, letters: float):
    """Pillow's own scalable face (no font file to ship or find), `letters` of the frame's height, smaller where the
    words would not fit across nine tenths of its width."""
    from PIL import ImageFont

    size = round(height * letters)
    font = ImageFont.load_default(size)
    wide = font.getlength(words)
    return ImageFont.load_default(max(8, int(size * width * 0.9 / wide))) if wide > width * 0.9 else font


def _shadow_blur(font) -> int:
    return max(2, font.size // 8)


def off_faces(overlay: Overlay, clips: list[Clip], moves: list[StillMove | None], frame: tuple[int, int]) -> Overlay:
    """`overlay` with its title and each caption where it covers the faces in the pictures under it least: the first
    of its places down the frame (SLIDESHOW_TITLE_MIDDLES, SLIDESHOW_CAPTION_MIDDLES) clear of them, as the photos
    move (`moves`: still_moves' for `clips`, each with its subject) and in a video's frames under the words, in a
    `frame` (width, height) picture; words over a face hide the person the picture is of."""
    if not (overlay.title or overlay.captions):
        return overlay

    def placed(words: str, letters: float, start: float, end: float, middles: tuple[float, ...]) -> float:
        faces = list(_faces_shown(clips, moves, frame, start, end))
        covered = [sum(_overlap(words_box(words, *frame, letters, middle), face) for face in faces)
                   for middle in middles]
        return middles[covered.index(min(covered))]

    title_middle = (placed(overlay.title, config.SLIDESHOW_TITLE_HEIGHT, *config.SLIDESHOW_TITLE_SECONDS,
                           config.SLIDESHOW_TITLE_MIDDLES) if overlay.title else overlay.title_middle)
    captions = tuple(replace(caption, middle=placed(caption.text, config.SLIDESHOW_CAPTION_HEIGHT, caption.start,
                                                    caption.start + caption.seconds, config.SLIDESHOW_CAPTION_MIDDLES))
                     for caption in overlay.captions)
    return replace(overlay, title_middle=title_middle, captions=captions)


_FACE_LOOKS = 5  # times a photo's faces are looked at over the words' time (the photo moves under them)
_VIDEO_FACE_LOOKS = 3  # frames of a video looked for faces in over it (each decoded and looked at: ~0.1 s)


def _faces_shown(clips: list[Clip], moves: list[StillMove | None], frame: tuple[int, int], start: float,
                 end: float) -> Iterator[tuple[float, float, float, float]]:
    """Where faces are in the frame (boxes as fractions of its width and height) at a few moments of the film from
    `start` to `end` seconds: the subjects of the photos on screen then (a dissolving one too) as they move, and
    those found in the videos' frames."""
    for clip, move in zip(clips, moves):
        if clip.info is None or (move is None and clip.info.kind != "video"):
            continue
        shown_from, seconds = (clip.offset - move.lead, move.seconds) if move else (clip.offset, clip.duration)
        begin, until = max(start, shown_from), min(end, shown_from + seconds)
        if begin < until and move:
            yield from _photo_faces(clip, move, frame, begin, until)
        elif begin < until:
            yield from _video_faces(clip, frame, begin, until)


def _photo_faces(clip: Clip, move: StillMove, frame: tuple[int, int], begin: float, until: float
                 ) -> Iterator[tuple[float, float, float, float]]:
    """A photo's subject in the frame at _FACE_LOOKS moments of the film from `begin` to `until`, as it moves."""
    if move.subject is None:
        return
    focus = composed_focus(clip.info, *frame, move.subject)
    corners = [in_composed(clip.info, *frame, move.subject, point) for point in (move.subject[:2], move.subject[2:])]
    for at in np.linspace(begin, until, _FACE_LOOKS):
        (left, right), (top, bottom) = move.window(at - clip.offset, focus, 0 if frame[0] >= frame[1] else 1)
        (x0, y0), (x1, y1) = [((x - left) / (right - left), (y - top) / (bottom - top)) for x, y in corners]
        yield x0, y0, x1, y1


def _video_faces(clip: Clip, frame: tuple[int, int], begin: float, until: float
                 ) -> Iterator[tuple[float, float, float, float]]:
    """The faces in a video's frames at _VIDEO_FACE_LOOKS moments of the film from `begin` to `until` (a video does
    not move in its frame: each face is where the frame shows it)."""
    from cotvtm_desktop.analysis.faces import faces_in_video, subject

    info = clip.info
    times = [clip.source_in + at - clip.offset for at in np.linspace(begin, until, _VIDEO_FACE_LOOKS)]
    for found in faces_in_video(info.path, (info.width, info.height), info.rotation, info.start_time, times):
        box = subject(found)
        if box is not None:
            yield *in_composed(info, *frame, None, box[:2]), *in_composed(info, *frame, None, box[2:])


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The area two boxes (left, top, right, bottom) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def composed_still(info: MediaInfo, width: int, height: int,
                   subject: tuple[float, float, float, float] | None = None):
    """The photo `info` filling a width × height picture (a PIL image): cropped to it when that trims little (around
    its `subject`, where it has one: crop_centring), else whole over a blurred, darkened fill of itself."""
    from PIL import Image, ImageFilter, ImageOps

    fills = fills_frame(info, width, height)
    # decoded no larger than it shows (the fill behind a photo shown whole is blurred: its size does not matter)
    scale = (max if fills else min)(width / info.width, height / info.height)
    photo = load_picture(info.path, (math.ceil(info.width * scale), math.ceil(info.height * scale)))
    if fills:
        return ImageOps.fit(photo, (width, height), Image.Resampling.LANCZOS,
                            centering=crop_centring(info, width, height, subject))
    fill = ImageOps.fit(photo, (width, height), Image.Resampling.LANCZOS)
    blurred = fill.filter(ImageFilter.GaussianBlur(max(width, height) * config.SLIDESHOW_BACKDROP_BLUR))
    backdrop = blurred.point(lambda v: round(v * config.SLIDESHOW_BACKDROP_LEVEL))
    shown = ImageOps.contain(photo, (width, height), Image.Resampling.LANCZOS)
    backdrop.paste(shown, ((width - shown.width) // 2, (height - shown.height) // 2))
    return backdrop


def crop_centring(info: MediaInfo, width: int, height: int,
                  subject: tuple[float, float, float, float] | None) -> tuple[float, float]:
    """Where a photo that fills a width × height frame is cropped, as Pillow's ImageOps.fit takes it (0: the left or
    top edge kept, 0.5: the middle, 1: the right or bottom): with the crop's middle on its subject's middle, as near
    as the photo allows; the middle without one."""
    if subject is None:
        return 0.5, 0.5
    kept = _kept_share(info, width, height)
    middle = ((subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2)
    return tuple(0.5 if share >= 1 else min(max((point - share / 2) / (1 - share), 0.0), 1.0)
                 for point, share in zip(middle, kept))


def composed_focus(info: MediaInfo, width: int, height: int,
                   subject: tuple[float, float, float, float] | None) -> tuple[float, float]:
    """The middle of the photo's subject in composed_still's picture, as fractions of its width and height; the
    picture's middle without one."""
    if subject is None:
        return 0.5, 0.5
    return in_composed(info, width, height, subject, ((subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2))


def in_composed(info: MediaInfo, width: int, height: int, subject: tuple[float, float, float, float] | None,
                point: tuple[float, float]) -> tuple[float, float]:
    """Where a `point` of the photo (fractions of its width and height) lies in composed_still's picture of it
    (cropped around `subject`), as fractions of that picture's width and height."""
    if fills_frame(info, width, height):
        centring, kept = crop_centring(info, width, height, subject), _kept_share(info, width, height)
        return tuple((at - centre * (1 - share)) / share for at, centre, share in zip(point, centring, kept))
    scale = min(width / info.width, height / info.height)  # shown whole, in the middle of the frame
    shown = (info.width * scale / width, info.height * scale / height)
    return tuple(0.5 + (at - 0.5) * share for at, share in zip(point, shown))


def _kept_share(info: MediaInfo, width: int, height: int) -> tuple[float, float]:
    """How much of a photo's width and height a width × height frame keeps when the photo fills it."""
    ratio = info.width / info.height / (width / height)
    return (1 / ratio, 1.0) if ratio > 1 else (1.0, ratio)
