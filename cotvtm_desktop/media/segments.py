"""The segment plan: where one piece of music ends and the next begins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from cotvtm_desktop import config


@dataclass(frozen=True)
class Segment:
    index: int
    start: float  # seconds from the first video frame
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict:
        return {"index": self.index, "start": round(self.start, 4), "end": round(self.end, 4)}


def plan_segments(
    duration: float,
    cuts: Sequence[float] = (),
    segment_seconds: float = config.SEGMENT_SECONDS,
    min_seconds: float = config.MIN_SEGMENT_SECONDS,
    snap_seconds: float = config.CUT_SNAP_SECONDS,
) -> list[Segment]:
    """Split [0, duration] into segments of about `segment_seconds`.

    Each boundary lies `segment_seconds` after the previous one, moved to the nearest scene cut within
    `snap_seconds` so the music changes on a cut rather than mid-shot. No segment is shorter than `min_seconds`
    (except a whole video shorter than that): a short tail is merged into the segment before it, so a 10.048 s video
    is one segment, not 10 s + 48 ms.
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    min_seconds = min(min_seconds, segment_seconds)
    bounds = [0.0]
    while duration - bounds[-1] >= segment_seconds + min_seconds:
        previous = bounds[-1]
        target = previous + segment_seconds
        usable = [c for c in cuts if abs(c - target) <= snap_seconds and c - previous >= min_seconds
                  and duration - c >= min_seconds]
        bounds.append(min(usable, key=lambda c: abs(c - target)) if usable else target)
    bounds.append(duration)
    return [Segment(i, start, end) for i, (start, end) in enumerate(zip(bounds[:-1], bounds[1:]))]
