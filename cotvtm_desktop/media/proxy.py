"""A render of a timeline's picture: small, for previewing an edit with its music (`cotvtm score EDIT -o x.mp4`, and
the desktop app's preview of a project), or full size, a slideshow's (media/slideshow.py).

The picture is cut into pieces of at most PIECE_SECONDS, each rendered by the ffmpeg binary on its own (a clip's
range, or black for a gap; rotation applied, letterboxed, at one size and frame rate) and then joined without
re-encoding. Pieces are small files a caller can keep: after an edit, only the pieces that changed render again.
Piece lengths come from the timeline's frame grid, so the joined picture has round(length × fps) frames and every
join sits within half a frame of its place however many clips there are. Every piece is converted to BT.709 and
tagged so, as players take a picture of this size to be, so that pieces of any source join alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, astuple, dataclass, replace
from pathlib import Path

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import BadMediaError
from cotvtm_desktop.media import hdr
from cotvtm_desktop.media.images import save_upright
from cotvtm_desktop.media.mux import (DEINTERLACE_FILTER, TO_BT709, FfmpegFailed, concat_quoted, ffmpeg_has,
                                     run_ffmpeg)
from cotvtm_desktop.media.probe import MediaInfo
from cotvtm_desktop.media.slideshow import (Caption, Dissolve, Overlay, StillMove, fills_frame, off_faces,
                                            still_frames, still_moves)
from cotvtm_desktop.media.timeline import Clip

PIECE_SECONDS = 20.0  # a piece renders in a few seconds: cancelling and progress are never far away


@dataclass(frozen=True)
class PictureFormat:
    width: int
    height: int
    fps: int
    crf: int = config.PREVIEW_CRF
    moving_stills: bool = False  # a slideshow's: each photo slowly zooms (media/slideshow.py)
    dissolve: float = 0.0  # a slideshow's: seconds a photo takes to dissolve into the next (0: a cut)
    overlay: Overlay | None = None  # a slideshow's: its title and fades, over the whole film

    def identity(self) -> dict:
        """What every piece's picture depends on, for a cache key (of the overlay, each piece has its own part)."""
        return asdict(replace(self, overlay=None))


@dataclass(frozen=True)
class Piece:
    """`frames` frames of the picture: of `info` from `source_in` seconds on (a photo moving by `move`, dissolving
    with a photo beside it by `dissolves`), or black (`info` None)."""

    info: MediaInfo | None
    source_in: float
    frames: int
    move: StillMove | None = None
    dissolves: tuple[Dissolve, ...] = ()  # the photo's dissolves with those beside it that fall in this piece
    overlay: Overlay | None = None  # what of the film's title, captions and fades shows in this piece
    film_in: float = 0.0  # the film's time at the piece's first frame

    def identity(self) -> list:
        """What the piece shows, for a cache key (with the file's version, which the caller adds)."""
        return [str(self.info.path) if self.info else None, round(self.source_in, 4), self.frames,
                self.move.identity() if self.move else None, [d.identity() for d in self.dissolves],
                *([[round(v, 4) if isinstance(v, float) else v for v in astuple(self.overlay)],
                   round(self.film_in, 4)] if self.overlay else [])]


def picture_format(clips: list[Clip]) -> PictureFormat:
    """The timeline's first clip's shape with PREVIEW_SHORT_SIDE pixels on its shorter side (a phone's upright
    video too), its frame rate up to PREVIEW_MAX_FPS."""
    first = next(c.info for c in clips if c.info is not None)
    short, (across, along) = config.PREVIEW_SHORT_SIDE, sorted((max(first.width, 1), max(first.height, 1)))
    long = 2 * max(1, round(short * along / across / 2))
    width, height = (long, short) if first.width >= first.height else (short, long)
    fps = min(round(first.fps), config.PREVIEW_MAX_FPS) if first.kind == "video" and first.fps >= 1 else 25
    return PictureFormat(width, height, fps)


def slideshow_format(clips: list[Clip], dissolve: float = 0.0, lines: int = config.SLIDESHOW_SHORT_SIDE,
                     title: str = "", fades: tuple[float, float] = (0.0, 0.0),
                     captions: tuple[Caption, ...] = ()) -> PictureFormat:
    """A slideshow's picture: 16:9 with `lines` on its shorter side, upright (9:16) when its pictures stand upright
    for most of its time; at its videos' commonest frame rate (by time on screen, up to SLIDESHOW_MAX_FPS), else
    SLIDESHOW_FPS; its photos dissolving into each other over `dissolve` seconds (0: cut); `title` over its
    opening; `fades` (seconds in from black, out to black: the music's) at its ends."""
    shown = [c for c in clips if c.info is not None]
    upright = sum(c.duration for c in shown if c.info.height > c.info.width)
    short, long = lines, 2 * round(lines * 16 / 9 / 2)
    width, height = (short, long) if upright > sum(c.duration for c in shown) / 2 else (long, short)
    rates: dict[int, float] = {}
    for clip in shown:
        if clip.info.kind == "video" and clip.info.fps >= 1:
            rate = min(round(clip.info.fps), config.SLIDESHOW_MAX_FPS)
            rates[rate] = rates.get(rate, 0.0) + clip.duration
    fps = max(rates, key=rates.__getitem__) if rates else config.SLIDESHOW_FPS
    seconds = max(round((c.offset + c.duration) * fps) for c in clips) / fps  # on the frame grid, as plan_pieces
    return PictureFormat(width, height, fps, config.SLIDESHOW_CRF, moving_stills=True, dissolve=dissolve,
                         overlay=Overlay(title, *fades, seconds, captions) if title or any(fades) or captions
                         else None)


def plan_pieces(clips: list[Clip], shape: PictureFormat) -> list[Piece]:
    """The timeline's clips and gaps as pieces on its frame grid."""
    fps = shape.fps
    longest = round(PIECE_SECONDS * fps)
    moves = (still_moves(clips, (shape.width, shape.height), shape.dissolve) if shape.moving_stills
             else [(None, ())] * len(clips))
    overlay = off_faces(shape.overlay, clips, [move for move, _ in moves], (shape.width, shape.height)
                        ) if shape.overlay else None
    overlaid = _overlay_edges(shape)
    pieces = []
    for clip, (move, dissolves) in zip(clips, moves):
        first, end = round(clip.offset * fps), round((clip.offset + clip.duration) * fps)
        cuts = set(range(first, end, longest))
        if move is None:  # a video's dissolves, title and fades in pieces of their own, made frame by frame
            for dissolve in dissolves:
                low, high = dissolve.window()
                cuts.add(first + (math.ceil(high * fps) if dissolve.side > 0 else math.floor(low * fps)))
            cuts.update(overlaid)
        cuts = sorted(c for c in cuts if first <= c < end)
        for start, stop in zip(cuts, [*cuts[1:], end]):
            source_in = clip.source_in + (start - first) / fps if clip.info else 0.0
            inside = tuple(d for d in dissolves if d.window()[0] < clip.source_in + (stop - first) / fps
                           and d.window()[1] > source_in)
            shown = overlay.within(start / fps, stop / fps) if overlay else None
            pieces.append(Piece(clip.info, source_in, stop - start, move, inside, shown, start / fps))
    return pieces


def _overlay_edges(shape: PictureFormat) -> set[int]:
    """The frames where the film's title, a caption or a fade begins or ends: a video is cut there, so that only its
    stretch under them is made frame by frame."""
    overlay, fps = shape.overlay, shape.fps
    if overlay is None:
        return set()
    edges = {math.ceil(config.SLIDESHOW_TITLE_SECONDS[1] * fps) if overlay.title else 0,
             math.ceil(overlay.fade_in * fps), math.floor((overlay.seconds - overlay.fade_out) * fps)}
    for caption in overlay.captions:
        edges |= {math.floor(caption.start * fps), math.ceil((caption.start + caption.seconds) * fps)}
    return edges


def render_piece(piece: Piece, shape: PictureFormat, target: Path) -> None:
    """One piece as an H.264 mp4, without sound: the picture upright, at its display aspect, letterboxed (in a
    slideshow's picture a video fills the frame as its photos do, see _filled, and a photo moves: still_frames; a
    video's stretch dissolving with a photo, or under the title or a fade: _blended)."""
    w, h, fps = shape.width, shape.height, shape.fps
    upright = target.with_name(f"{target.stem}.upright.png")
    raw = target.with_name(f"{target.stem}.frames.yuv")
    frames = None  # a moving photo's (or a dissolve's), made here and piped in
    piped = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-framerate", str(fps), "-i", "pipe:0"]
    try:
        if piece.info is not None and piece.move is not None:
            source = piped
            frames = still_frames(piece.info, piece.move, piece.source_in, piece.frames, fps, w, h, piece.dissolves,
                                  piece.overlay, piece.film_in)
        elif piece.info is not None and (piece.dissolves or piece.overlay):
            _encode(piece, shape, raw, _source(piece, shape, upright), as_raw=True)
            source, frames = piped, _blended(piece, shape, raw)
        else:
            source = _source(piece, shape, upright)
        _encode(piece, shape, target, source, frames)
    except FfmpegFailed as exc:  # named by its source, not by the piece in the work folder
        if piece.info is None:
            raise
        raise BadMediaError(f"no picture could be made from it ({exc.detail}); if it plays "
                            "elsewhere, re-copy it from its source", piece.info.path) from None
    finally:
        if frames is not None:
            frames.close()  # a dissolve's: its file of raw frames closed before it is deleted
        upright.unlink(missing_ok=True)
        raw.unlink(missing_ok=True)


def _source(piece: Piece, shape: PictureFormat, upright: Path) -> list[str]:
    """ffmpeg's input of a piece's picture: black, a still photo (saved upright as `upright`) or a video."""
    if piece.info is None:
        return ["-f", "lavfi", "-i", f"color=c=black:s={shape.width}x{shape.height}:r={shape.fps}"]
    if piece.info.kind == "image":
        return ["-loop", "1", "-framerate", str(shape.fps), "-i", str(save_upright(piece.info.path, upright))]
    # -ss before -i: a fast seek, then decoding up to the exact time; frames come upright (autorotate)
    return ["-ss", f"{piece.source_in:.6f}", "-i", str(piece.info.path), "-map", f"0:{piece.info.video_stream}"]


def _encode(piece: Piece, shape: PictureFormat, target: Path, source: list[str],
            frames: Iterator[np.ndarray] | None = None, as_raw: bool = False) -> None:
    """The piece's picture from `source` (with `frames` piped in: made here, in BT.709 already) shaped to the
    format and written as H.264, or as raw yuv420p frames with `as_raw`."""
    w, h, fps = shape.width, shape.height, shape.fps
    # a phone's HDR clip as SDR shows it, like its pictures (hdr.py); an ffmpeg without zimg shows it raw
    tone = hdr.ffmpeg_to_sdr() + "," if piece.info is not None and piece.info.hdr and ffmpeg_has(
        "filters", "zscale") else ""
    if piece.info is None or frames is not None:
        fit = ""
    elif shape.moving_stills:  # a slideshow's video, shown as its photos are (tone-mapped before it is darkened)
        fit = tone + _filled(piece.info, shape)
    else:  # an edit's clip, letterboxed as the editor shows it (tone-mapped small: quicker)
        fit = "scale={}:{},".format(*_fitted(piece.info, shape)) + tone
    # a tape's fields made frames before the preview's rate is taken from them: not combed
    fields = f"{DEINTERLACE_FILTER}," if frames is None and piece.info is not None and piece.info.interlaced else ""
    made = "setparams=colorspace=bt709:range=tv," if frames is not None else ""  # they pass through unchanged
    shaped = (f"{made}{fields}fps={fps},{fit}setsar=1,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,{TO_BT709},"
              "tpad=stop=-1:stop_mode=clone")  # a source that ends early holds its last frame
    output = (["-f", "rawvideo", "-pix_fmt", "yuv420p"] if as_raw else
              ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(shape.crf), "-video_track_timescale",
               str(fps * 1000), "-f", "mp4"])
    run_ffmpeg([*source, "-an", "-sn", "-dn", "-vf", shaped, "-frames:v", str(piece.frames), *output, str(target)],
               target, frames)


def _blended(piece: Piece, shape: PictureFormat, raw: Path) -> Iterator[np.ndarray]:
    """A video's frames (read back from `raw`, where they were made as its piece would show them) blended with the
    frames of the photos it dissolves with, each frame by its share (slideshow.Dissolve.weight), and under the
    film's overlay (its title, its fades) where it shows."""
    w, h, fps = shape.width, shape.height, shape.fps
    others = [still_frames(d.other, d.other_move, d.other_at + piece.source_in - d.at, piece.frames, fps, w, h)
              for d in piece.dissolves]
    try:
        with raw.open("rb") as made:  # closed before the file is deleted (which Windows refuses while it is open)
            for number in range(piece.frames):
                shown = np.frombuffer(made.read(w * h * 3 // 2), np.uint8).reshape(h * 3 // 2, w)
                for dissolve, frames in zip(piece.dissolves, others):
                    other, weight = next(frames), dissolve.weight(piece.source_in + number / fps)
                    if weight is not None:
                        shown = np.rint(shown * np.float32(weight) + other * np.float32(1 - weight)).astype(np.uint8)
                yield piece.overlay.over(shown, piece.film_in + number / fps) if piece.overlay else shown
    finally:
        for frames in others:
            frames.close()


def _filled(info: MediaInfo, shape: PictureFormat) -> str:
    """The filters that fill the frame with a video as a slideshow's photo fills it (slideshow.composed_still):
    cropped to it when that trims little, else whole over a blurred, darkened fill of itself (blurred small: quick)."""
    w, h = shape.width, shape.height
    cover = "scale={}:{}:force_original_aspect_ratio=increase,crop={}:{}"
    if fills_frame(info, w, h):
        return cover.format(w, h, w, h) + ","
    small_w, small_h = 2 * round(w / 16), 2 * round(h / 16)
    darker = ":".join(f"{plane}='{zero}+(val-{zero})*{config.SLIDESHOW_BACKDROP_LEVEL}'" for plane, zero in
                      (("y", 16), ("u", 128), ("v", 128)))  # as the photo's RGB scaled, in video levels
    return (f"split=2[fill][shown];[fill]{cover.format(small_w, small_h, small_w, small_h)},"
            f"gblur=sigma={max(small_w, small_h) * config.SLIDESHOW_BACKDROP_BLUR:g},scale={w}:{h},"
            f"lutyuv={darker}[backdrop];"
            "[shown]scale={}:{}[whole];[backdrop][whole]overlay=(W-w)/2:(H-h)/2,".format(*_fitted(info, shape)))


def _fitted(info: MediaInfo, shape: PictureFormat) -> tuple[int, int]:
    """The largest even size with `info`'s display aspect (rotation and sample aspect applied) that fits `shape`."""
    scale = min(shape.width / info.width, shape.height / info.height)
    return (min(shape.width, 2 * max(1, round(info.width * scale / 2))),
            min(shape.height, 2 * max(1, round(info.height * scale / 2))))


def join_pieces(files: list[Path], target: Path) -> None:
    """The pieces, in order, as one video (copied: they share one format)."""
    listing = target.with_name(f"{target.stem}.pieces.txt")
    quoted = (f"file '{concat_quoted(f)}'" for f in files)
    listing.write_text("\n".join(quoted) + "\n", encoding="utf-8")
    try:
        run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-f", "mp4", str(target)],
                   target)
    finally:
        listing.unlink(missing_ok=True)


def render_picture(clips: list[Clip], shape: PictureFormat, folder: Path,
                   piece_key: Callable[[Piece, PictureFormat], str],
                   progress: Callable[[float], None] = lambda fraction: None) -> Path:
    """The timeline's picture as folder/picture.mp4, from pieces kept in `folder` by `piece_key(piece, shape)` (a
    key that changes when the piece would): pieces already there are not rendered again, pieces of an earlier
    version of the edit at this size are deleted (those of another stay: a slideshow's preview in the app is small,
    its export full size)."""
    pieces = plan_pieces(clips, shape)
    size = f"{shape.width}x{shape.height}"  # pieces of another size stay: a preview's small, an export's full
    total = sum(p.frames for p in pieces)
    files, done = [], 0
    for piece in pieces:
        file = folder / f"piece-{size}-{piece_key(piece, shape)}.mp4"
        if not file.exists():
            partial = folder / f".{file.stem}.partial.mp4"
            try:
                render_piece(piece, shape, partial)
                partial.replace(file)
            finally:
                partial.unlink(missing_ok=True)
        files.append(file)
        done += piece.frames
        progress(done / max(total, 1))
    for stale in set(folder.glob(f"piece-{size}-*.mp4")) - set(files):
        stale.unlink()
    target = folder / "picture.mp4"
    join_pieces(files, target)
    return target
