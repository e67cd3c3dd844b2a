"""Probe an input file: what kind of media it is, how long, how it is oriented, whether it has sound.

Durations come from packet timestamps (a demux pass without decoding), so they are right for VFR video and for
containers that do not state a duration (e.g. webm written to a pipe).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import BadMediaError
from cotvtm_desktop.media import hdr
from cotvtm_desktop.media.images import open_image, quarter_turned, unreadable_image

# A file whose packets stop this much earlier than its header says was cut short (copy or download interrupted).
_TRUNCATION_TOLERANCE_SECONDS = 1.0


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    kind: str  # "video" or "image"
    duration: float  # seconds of video (0 for an image)
    width: int  # display width, rotation applied
    height: int
    rotation: int  # degrees counter-clockwise the decoded frames must turn to display upright
    fps: float  # average frame rate from timestamps (VFR-safe)
    video_codec: str
    has_audio: bool
    start_time: float  # first video timestamp, seconds
    video_stream: int = 0  # index of the picture stream among the file's streams (cover art is skipped)
    keyframe_interval: float = float("inf")  # median seconds between keyframes (inf: a single keyframe)
    hdr: str = ""  # "pq" or "hlg" for HDR video (media/hdr.py), else ""
    interlaced: bool = False  # fields, not frames: a DV or HDV camcorder's tape, a DVD

    def to_json(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in config.IMAGE_EXTENSIONS


def probe(path: Path) -> MediaInfo:
    """Describe `path`, or raise BadMediaError saying why it cannot be scored."""
    path = Path(path)
    if not path.exists():
        raise BadMediaError("file not found", path)
    if path.suffix.lower() in config.PROJECT_EXTENSIONS:
        raise BadMediaError("an editor project, not a video; score it with `cotvtm project score`", path)
    if path.is_dir():
        raise BadMediaError("is a folder; use `cotvtm batch` for folders", path)
    if path.stat().st_size == 0:
        raise BadMediaError("file is empty (0 bytes); re-copy it from its source", path)
    if is_image_path(path):
        return _probe_image(path)
    try:
        with av.open(str(path)) as container:
            return _probe_video(path, container)
    except av.FFmpegError as exc:
        raise BadMediaError(
            f"not a readable media file, or truncated ({exc.strerror or exc}); re-copy it from its source", path
        ) from None


def _probe_image(path: Path) -> MediaInfo:
    try:
        with open_image(path) as image:
            image.verify()
        with open_image(path) as image:
            width, height = image.size
            if quarter_turned(image):
                width, height = height, width
    except OSError as exc:  # PIL's UnidentifiedImageError too
        raise unreadable_image(path, exc) from None
    return MediaInfo(path, "image", 0.0, width, height, 0, 0.0, "image", False, 0.0)


def main_video_stream(container: av.container.InputContainer):
    """The video stream to score: the first that is not cover art (music files often carry an attached picture)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _probe_video(path: Path, container: av.container.InputContainer) -> MediaInfo:
    stream = main_video_stream(container)
    if stream is None:
        raise BadMediaError("has no video stream (at most cover art); only videos and images can be scored", path)
    first_frame = _first_frame(path, container, stream)
    rotation = int(round(first_frame.rotation or 0)) % 360
    # shown at its sample aspect ratio: an HDV camcorder's 1440x1080 frames are 1920 wide on screen
    aspect = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    width = round(first_frame.width * aspect) if aspect and aspect > 0 else first_frame.width
    height = first_frame.height
    if rotation in (90, 270):
        width, height = height, width

    start, end, frames, keyframes = _scan_timestamps(path, container, stream)
    duration = end - start
    declared = _declared_duration(container, stream)
    # some containers state the time of their end rather than their length (a webm whose timestamps start at 5 s
    # says 11 s for 6 s of video): cut short means ending well before both
    if declared is not None and declared - max(duration, end) > _TRUNCATION_TOLERANCE_SECONDS:
        raise BadMediaError(
            f"its video stops at {duration:.1f} s but the file says {declared:.1f} s: it looks truncated "
            "(an interrupted copy or download); re-copy it from its source",
            path,
        )
    if duration <= 0:
        raise BadMediaError("has no playable video frames", path)
    return MediaInfo(
        path=path,
        kind="video",
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        fps=frames / duration,
        video_codec=stream.codec_context.name,
        has_audio=bool(container.streams.audio),
        start_time=start,
        video_stream=stream.index,
        keyframe_interval=float(np.median(np.diff(keyframes))) if len(keyframes) > 1 else float("inf"),
        hdr=hdr.name(first_frame.color_trc),
        interlaced=bool(first_frame.interlaced_frame),
    )


def _first_frame(path: Path, container, stream) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError:
        pass
    raise BadMediaError("its video cannot be decoded (damaged or truncated); re-copy it from its source", path)


def _scan_timestamps(path: Path, container, stream) -> tuple[float, float, int, list[float]]:
    """First pts, end of the last frame, frame count and keyframe times, read from packets without decoding. A
    packet an edit list hides (a video trimmed without re-encoding: the frames from the keyframe before the cut to
    the cut are kept, marked not to show) does not count: the video starts where it plays from."""
    container.seek(0)
    starts: list[float] = []
    keyframes: list[float] = []
    last_end = 0.0
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.is_discard:
                continue
            start = float(packet.pts * stream.time_base)
            starts.append(start)
            if packet.is_keyframe:
                keyframes.append(start)
            last_end = max(last_end, start + float((packet.duration or 0) * stream.time_base))
    except av.FFmpegError:
        pass  # a damaged tail: what was read counts; truncation is judged against the declared duration
    if not starts:
        raise BadMediaError("has no video frames with timestamps", path)
    first, last_start = min(starts), max(starts)
    if last_end <= last_start:  # the container gives no packet durations: the last frame lasts one mean interval
        last_end = last_start + (last_start - first) / max(len(starts) - 1, 1)
    return first, last_end, len(starts), sorted(keyframes)


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None
