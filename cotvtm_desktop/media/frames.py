"""Decoded frames, rotated upright, decimated in time from their timestamps (VFR-safe)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import av
import numpy as np

from cotvtm_desktop.errors import BadMediaError


def iter_frames(path: Path, fps: float, start_time: float = 0.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """Yield (seconds from the first frame, frame) about `fps` times per second of video.

    Frames are picked by their timestamps, not by counting, so variable-frame-rate video is sampled evenly.
    Non-reference frames are not decoded at all: at an analysis rate far below the video's rate they would be
    dropped anyway, and skipping them roughly halves decoding time.
    """
    interval = 1.0 / fps
    next_time = 0.0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.skip_frame = "NONREF"
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base) - start_time
                if t + 1e-6 < next_time:
                    continue
                yield t, frame
                next_time = max(next_time + interval, t + interval / 2)
    except av.FFmpegError as exc:
        raise BadMediaError(f"decoding failed ({exc}); the file may be damaged, re-copy it", path) from None


def to_rgb(frame: av.VideoFrame, width: int, height: int, rotation: int) -> np.ndarray:
    """The frame as an upright uint8 RGB array of the given display size."""
    if rotation in (90, 270):  # scale in stored orientation, then turn
        width, height = height, width
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)) if rotation else rgb


def load_image(path: Path) -> np.ndarray:
    """An image file as upright RGB (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
