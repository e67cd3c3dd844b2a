"""Small upright pictures of a video, image or timeline at given times: the GUI's queue and segment strip show
them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cotvtm_desktop.media.frames import iter_frames, load_image, to_rgb
from cotvtm_desktop.media.probe import MediaInfo
from cotvtm_desktop.media.timeline import Clip, clip_at

_LOOK_AHEAD_SECONDS = 2.0  # the first decoded frame this soon after the asked time is good enough


def thumbnail(info: MediaInfo, at: float, height: int) -> np.ndarray:
    """An RGB picture `height` pixels tall (width from the display aspect) of the frame at `at` seconds."""
    width = max(2, round(height * info.width / max(info.height, 1)))
    if info.kind == "image":
        image = Image.fromarray(load_image(info.path))
        return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))
    at = min(max(at, 0.0), max(info.duration - 0.05, 0.0))
    for _, frame in iter_frames(info.path, 1.0, info.start_time, (at, at + _LOOK_AHEAD_SECONDS)):
        return to_rgb(frame, width, height, info.rotation)
    for _, frame in iter_frames(info.path, 1.0, info.start_time):  # past the last keyframe: the first frame
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
