"""Decoded frames, rotated upright, picked by their timestamps (VFR-safe).

Two ways to sample a video:
- `iter_keyframe_pairs`: each keyframe plus the frame decoded a moment after it. Only a few packets per GOP reach
  the decoder, so this costs a small fraction of full decoding (a 4K phone clip included), and a pair is enough to
  measure colour, motion and objects at that moment. Used when keyframes come often (phones and cameras: every
  0.5-2 s).
- `iter_frames`: frames at a fixed rate from a full decode (non-reference frames skipped). Used for long-GOP files;
  `iter_frames_between` also hands over the frames between samples, where a scene cut is then found to the frame.
`decoded_frames` gives every frame of a stretch: a scene cut between two keyframes is pinned down with it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from cotvtm_desktop import config
from cotvtm_desktop.errors import BadMediaError
from cotvtm_desktop.media import hdr
from cotvtm_desktop.media.images import load_image
from cotvtm_desktop.media.probe import main_video_stream, probe

PAIR_GAP_SECONDS = 1 / 6  # the second frame of a pair: as close to this after the keyframe as decoding allows
# Packets decoded after a keyframe, at most: decoding stops at the first that is shown after the keyframe (the next
# P-frame, or the next frame of a video without B-frames), past leading B-frames of an open GOP, which show before.
_PACKETS_AFTER_KEYFRAME = 3


def iter_frames(path: Path, fps: float, start_time: float = 0.0, window: tuple[float, float] | None = None
                ) -> Iterator[tuple[float, av.VideoFrame]]:
    """Yield (seconds from the first frame, frame) about `fps` times per second, within `window` if given."""
    due = _sample_clock(fps, window)
    for t, frame in decoded_frames(path, start_time, window, every_frame_from=float("inf")):
        if due(t):
            yield t, frame


def iter_frames_between(path: Path, fps: float, start_time: float = 0.0,
                        window: tuple[float, float] | None = None
                        ) -> Iterator[tuple[float, av.VideoFrame, list[tuple[float, av.VideoFrame]]]]:
    """As iter_frames, each sample with the frames decoded since the one before it (reference frames only): a
    scene cut seen between two samples is found among them, to the frame where an encoder starts a new shot
    with a reference frame (x264 puts a keyframe there). They are held until the next sample, a few frames at
    the analysis rate; nothing is converted unless asked."""
    due = _sample_clock(fps, window)
    between: list[tuple[float, av.VideoFrame]] | None = None  # none kept before the first sample (after a seek)
    for t, frame in decoded_frames(path, start_time, window, every_frame_from=float("inf")):
        if due(t):
            yield t, frame, between or []
            between = []
        elif between is not None:
            between.append((t, frame))


def decoded_frames(path: Path, start_time: float = 0.0, window: tuple[float, float] | None = None,
                   every_frame_from: float = 0.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """Yield (seconds from the first frame, frame) for each frame decoded within `window` (from the keyframe before
    it), in order. Frames shown before `every_frame_from` seconds that no other frame refers to are skipped (inf:
    all such frames, which halves the decoding of a typical file with B-frames)."""
    begin, end = window or (0.0, float("inf"))
    try:
        with av.open(str(path)) as container:
            stream = main_video_stream(container)
            stream.thread_type = "AUTO"
            context, skipping = stream.codec_context, None
            if window:
                container.seek(int((begin + start_time) / stream.time_base), stream=stream, backward=True)
            for packet in container.demux(stream):
                if packet.pts is not None:  # a decoder takes a change of skipping between packets
                    skip = float(packet.pts * stream.time_base) - start_time < every_frame_from - 1e-6
                    if skip != skipping:
                        context.skip_frame, skipping = ("NONREF" if skip else "DEFAULT"), skip
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * stream.time_base) - start_time
                    if t > end:
                        return
                    yield t, frame
    except av.FFmpegError as exc:
        raise BadMediaError(f"decoding failed ({exc}); the file may be damaged, re-copy it", path) from None


def frames_near(path: Path, times: list[float], start_time: float = 0.0, keyframe_within: float = 2.0,
                look_ahead: float = 2.0) -> Iterator[av.VideoFrame | None]:
    """A frame for each of `times` (seconds from the first frame), from one opening of the file: the keyframe at or
    before the time where it lies within `keyframe_within` seconds (phones and cameras put one every 0.5-2 s: one
    frame decoded, several times quicker than decoding up to the time: benchmarks/thumbnails.py), else the first
    frame at or after it (within `look_ahead`); None where neither is found (past the end of a damaged file, say)."""
    try:
        with av.open(str(path)) as container:
            stream = main_video_stream(container)
            context = stream.codec_context
            for at in times:
                container.seek(int((at + start_time) / stream.time_base), stream=stream, backward=True)
                context.skip_frame = "NONKEY"
                found = _first_frame(container, stream, start_time, lambda t: True)
                if found is not None and found[0] < at - keyframe_within:  # too long before: decode up to the time
                    container.seek(int((at + start_time) / stream.time_base), stream=stream, backward=True)
                    context.skip_frame = "NONREF"
                    found = _first_frame(container, stream, start_time, lambda t: t >= at - 1e-6,
                                         stop=at + look_ahead)
                yield found[1] if found is not None else None
    except av.FFmpegError as exc:
        raise BadMediaError(f"decoding failed ({exc}); the file may be damaged, re-copy it", path) from None


def _first_frame(container, stream, start_time: float, wanted, stop: float = float("inf")
                 ) -> tuple[float, av.VideoFrame] | None:
    """(seconds, frame) of the first decoded frame `wanted(seconds)` accepts, from where the container stands."""
    for packet in container.demux(stream):
        for frame in packet.decode():
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base) - start_time
            if t > stop:
                return None
            if wanted(t):
                return t, frame
    return None


def _sample_clock(fps: float, window: tuple[float, float] | None):
    """A test of whether a frame at t seconds is the next sample at `fps` from the window's start (VFR-safe: a
    sample is the first frame at or after its time)."""
    interval = 1.0 / fps
    next_time = window[0] if window else 0.0

    def due(t: float) -> bool:
        nonlocal next_time
        if t + 1e-6 < next_time:
            return False
        next_time = max(next_time + interval, t + interval / 2)
        return True

    return due


def iter_keyframe_pairs(path: Path, start_time: float = 0.0, begin: float = 0.0
                        ) -> Iterator[tuple[float, av.VideoFrame, float, av.VideoFrame | None]]:
    """Yield (t, keyframe, t2, a frame shortly after it or None) for every keyframe of the video (from the last one
    at or before `begin` seconds on)."""
    try:
        with av.open(str(path)) as container:
            stream = main_video_stream(container)
            # frame and slice threads, as the full decoder: a phone's 4K HEVC analyses faster (benchmarks/RESULTS.md);
            # the pairs are the same, as each group is drained before the next
            stream.thread_type = "AUTO"
            if begin > 0:
                container.seek(int((begin + start_time) / stream.time_base), stream=stream, backward=True)
            decoder = stream.codec_context
            fed = _PACKETS_AFTER_KEYFRAME + 1  # packets given to the decoder since the last keyframe
            key_pts = None
            frames: list[av.VideoFrame] = []

            def close_group():
                nonlocal fed
                frames.extend(decoder.decode(None))  # drain, then reset for the next keyframe
                decoder.flush_buffers()
                yield from _pair(frames, stream.time_base, start_time)
                frames.clear()
                fed = _PACKETS_AFTER_KEYFRAME + 1  # the rest of the GOP never reaches the decoder

            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_keyframe:
                    if fed <= _PACKETS_AFTER_KEYFRAME:  # a short GOP ended before its group was complete
                        yield from close_group()
                    fed, key_pts = 0, packet.pts
                if fed > _PACKETS_AFTER_KEYFRAME:
                    continue
                frames.extend(decoder.decode(packet))
                fed += 1
                shown_after_key = fed > 1 and None not in (packet.pts, key_pts) and packet.pts > key_pts
                if shown_after_key or fed > _PACKETS_AFTER_KEYFRAME:
                    yield from close_group()
            if fed <= _PACKETS_AFTER_KEYFRAME:
                yield from close_group()
    except av.FFmpegError as exc:
        raise BadMediaError(f"decoding failed ({exc}); the file may be damaged, re-copy it", path) from None


def _pair(frames: list[av.VideoFrame], time_base, start_time: float):
    timed = sorted(((float(f.pts * time_base) - start_time, f) for f in frames if f.pts is not None),
                   key=lambda item: item[0])
    keyed = [(t, f) for t, f in timed if f.key_frame]
    if not keyed:
        return
    t, key = keyed[0]
    later = [(t2, f) for t2, f in timed if t2 > t]  # leading B-frames of an open GOP come before it: not these
    if later:
        t2, follow = min(later, key=lambda item: abs(item[0] - t - PAIR_GAP_SECONDS))
        yield t, key, t2, follow
    else:
        yield t, key, t, None


def to_rgb(frame: av.VideoFrame, width: int, height: int, rotation: int) -> np.ndarray:
    """The frame as an upright uint8 RGB array of the given display size; an HDR frame as SDR would show it."""
    if rotation in (90, 270):  # scale in stored orientation, then turn
        width, height = height, width
    if hdr.is_hdr(frame.color_trc):  # scaled small in 16 bits first: the light is worked out on few pixels
        rgb = hdr.to_sdr(_reformatter(width, height).reformat(frame, width, height, "rgb48le").to_ndarray(),
                         frame.color_trc)
    else:
        rgb = _reformatter(width, height).reformat(frame, width, height, "rgb24").to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)) if rotation else rgb


def _reformatter(width: int, height: int) -> VideoReformatter:
    """One scaler per thread and output size. Each keeps its swscale context for the next frame of the same
    size; `frame.to_ndarray(width=...)` sets up a new one every time, which costs five times the scaling itself
    (0.33 s against 0.055 s for 200 frames of 720p to 96x54, identical pixels)."""
    cache = getattr(_reformatters, "by_size", None)
    if cache is None:
        cache = _reformatters.by_size = {}
    if (width, height) not in cache:
        if len(cache) >= 8:  # a few sizes are in use at a time; a window being resized asks for many
            cache.clear()
        cache[(width, height)] = VideoReformatter()
    return cache[(width, height)]


_reformatters = threading.local()


def visual_frames(path: Path, count: int = 3) -> list[np.ndarray]:
    """An image, or `count` frames spread over a video (as a segment's E_v is made), upright RGB; none if the
    file cannot be read or is not an image or a video."""
    path = Path(path)
    try:
        if path.suffix.lower() in config.IMAGE_EXTENSIONS:
            return [load_image(path)]
        if path.suffix.lower() not in config.VIDEO_EXTENSIONS:
            return []
        info = probe(path)
        frames = [to_rgb(f, info.width, info.height, info.rotation)
                  for _, f in iter_frames(path, count / max(info.duration, 1e-3), info.start_time)]
        return frames[:count]
    except (BadMediaError, OSError, ValueError):  # PIL: UnidentifiedImageError is an OSError; odd modes, ValueError
        return []
