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
    silent: bool = False  # in a stretch the user wants no music in (--silent-at)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict:
        return {"index": self.index, "start": round(self.start, 4), "end": round(self.end, 4)}


def clock(seconds: float) -> str:
    """A time as people read it on a video's timeline: 83.2 s is 1:23.2."""
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def follows_notes(hits: Sequence[float], voices: Sequence[Sequence[float]]) -> list[str]:
    """How a segment's music follows the video beyond its brief, in words: the cuts it hits and where its melody
    rests for a voice (times from the input's start)."""
    notes = []
    if hits:
        notes.append(f"hits the cut{'s' if len(hits) > 1 else ''} at {', '.join(clock(t) for t in hits)}")
    if voices:
        notes.append(f"melody rests for a voice at {', '.join(f'{clock(a)}–{clock(b)}' for a, b in voices)}")
    return notes


def plan_segments(
    duration: float,
    cuts: Sequence[float] = (),
    segment_seconds: float = config.SEGMENT_SECONDS,
    silences: Sequence[tuple[float, float]] = (),
    min_seconds: float = config.MIN_SEGMENT_SECONDS,
    snap_seconds: float = config.CUT_SNAP_SECONDS,
) -> list[Segment]:
    """Split [0, duration] into segments of about `segment_seconds`.

    Each boundary lies `segment_seconds` after the previous one, moved to the nearest scene cut within
    `snap_seconds` so the music changes on a cut rather than mid-shot. No segment is shorter than `min_seconds`
    (except a whole video shorter than that): a short tail is merged into the segment before it, so a 10.048 s video
    is one segment, not 10 s + 48 ms. Each of the `silences` ((start, end) seconds the user wants no music in) is a
    silent segment of its own, boundaries exactly where it begins and ends; music shorter than `min_seconds` left
    between silences, or between one and an end of the video, goes silent with them.
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    min_seconds = min(min_seconds, segment_seconds)
    segments: list[Segment] = []
    for start, end, silent in _stretches(duration, silences, min_seconds):
        spans = [(start, end)] if silent else _spans(start, end, cuts, segment_seconds, min_seconds, snap_seconds)
        segments += [Segment(len(segments) + k, a, b, silent) for k, (a, b) in enumerate(spans)]
    return segments


def _stretches(duration: float, silences: Sequence[tuple[float, float]],
               min_seconds: float) -> list[tuple[float, float, bool]]:
    """[0, duration] as alternating stretches (start, end, silent): the silences clipped to the video and merged
    where they overlap or where too little music would be left between them."""
    merged: list[list[float]] = []
    for a, b in sorted((max(0.0, a), min(duration, b)) for a, b in silences):
        if b <= a:
            continue
        if merged and a - merged[-1][1] < min_seconds:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if merged and merged[0][0] < min_seconds:
        merged[0][0] = 0.0
    if merged and duration - merged[-1][1] < min_seconds:
        merged[-1][1] = duration
    stretches, position = [], 0.0
    for a, b in merged:
        if a > position:
            stretches.append((position, a, False))
        stretches.append((a, b, True))
        position = b
    if position < duration:
        stretches.append((position, duration, False))
    return stretches


def _spans(start: float, end: float, cuts: Sequence[float], segment_seconds: float, min_seconds: float,
           snap_seconds: float) -> list[tuple[float, float]]:
    """[start, end] (a stretch with music) in spans of about `segment_seconds`, as plan_segments says."""
    bounds = [start]
    while end - bounds[-1] >= segment_seconds + min_seconds:
        previous = bounds[-1]
        target = previous + segment_seconds
        usable = [c for c in cuts if abs(c - target) <= snap_seconds and c - previous >= min_seconds
                  and end - c >= min_seconds]
        bounds.append(min(usable, key=lambda c: abs(c - target)) if usable else target)
    bounds.append(end)
    return list(zip(bounds[:-1], bounds[1:]))
