"""Small upright pictures of a video, image or timeline at given times: the GUI's queue and segment strip show
them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cotvtm_desktop.media.frames import frames_near, iter_frames, to_rgb
from cotvtm_desktop.media.images import load_picture
from cotvtm_desktop.media.probe import MediaInfo
from cotvtm_desktop.media.timeline import Clip, clip_at

_KEYFRAME_WITHIN_SECONDS = 2.0  # a keyframe this shortly before the asked time shows it well enough
_LOOK_AHEAD_SECONDS = 2.0  # else the first decoded frame this soon after the asked time


def thumbnail(info: MediaInfo, at: float, height: int) -> np.ndarray:
    """An RGB picture `height` pixels tall (width from the display aspect) of the frame at `at` seconds."""
    return thumbnails(info, [at], height)[0]


def thumbnails(info: MediaInfo, times: list[float], height: int) -> list[np.ndarray]:
    """Pictures `height` pixels tall (width from the display aspect) at each of `times`: a video's from one opening
    of it, each its keyframe at or shortly before the time (media.frames.frames_near): a long video's hundreds of
    segment pictures come in seconds."""
    width = max(2, round(height * info.width / max(info.height, 1)))
    if info.kind == "image":
        image = load_picture(info.path, (width, height))
        return [np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))] * len(times)
    last = max(info.duration - 0.05, 0.0)
    frames = frames_near(info.path, [min(max(at, 0.0), last) for at in times], info.start_time,
                         _KEYFRAME_WITHIN_SECONDS, _LOOK_AHEAD_SECONDS)
    return [to_rgb(frame, width, height, info.rotation) if frame is not None else _first_picture(info, width, height)
            for frame in frames]


def _first_picture(info: MediaInfo, width: int, height: int) -> np.ndarray:
    """The video's first frame (for a time past its last keyframe), or black."""
    for _, frame in iter_frames(info.path, 1.0, info.start_time):
        return to_rgb(frame, width, height, info.rotation)
    return np.zeros((height, width, 3), np.uint8)


def timeline_thumbnail(info: MediaInfo, clips: list[Clip], at: float, height: int) -> np.ndarray:
    """The picture the timeline shows at `at` seconds: its clip's frame there, black in a gap."""
    clip, source_time = clip_at(clips, at)
    if clip.info is None:
        return np.zeros((height, max(2, round(height * info.width / max(info.height, 1))), 3), np.uint8)
    return thumbnail(clip.info, source_time, height)


def save_thumbnail(picture: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(picture).save(tmp, format="JPEG", quality=85)
    tmp.replace(path)
