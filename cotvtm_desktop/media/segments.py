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
        # in_silence: within a stretch the user asked by time to have no music in (not by the segment's edit)
        return {"index": self.index, "start": round(self.start, 4), "end": round(self.end, 4),
                **({"in_silence": True} if self.silent else {})}


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
    landings: Sequence[float] = (),
) -> list[Segment]:
    """Split [0, duration] into segments of about `segment_seconds`.

    Each boundary lies `segment_seconds` after the previous one, moved to the nearest scene cut within `snap_seconds` so
    the music changes on a cut rather than mid-shot; with no cut that near, to the nearest of the `landings` within it
    (a slideshow's bar lines in a photo held long, media/slideshow.bar_lines). No segment is shorter than `min_seconds`
    (except a whole video shorter than that): a short tail is merged into the segment before it, so a 10.048 s video is
    one segment, not 10 s + 48 ms.

    Each of the `silences` ((start, end) seconds the user wants no music in) is cut out of that plan as a silent
    segment of its own, boundaries exactly where it begins and ends; every segment it does not touch keeps its
    times, so its music stays as it was. A scrap of music shorter than `min_seconds` left beside a silence joins the
    music segment it touches; with none to join (between two silences, or between one and an end of the video),
    it goes silent too.
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    min_seconds = min(min_seconds, segment_seconds)
    grid = _spans(0.0, duration, cuts, segment_seconds, min_seconds, snap_seconds, landings)
    pieces = _without_scraps(_cut_out(grid, _merged(duration, silences)), min_seconds)
    return [Segment(k, a, b, silent) for k, (a, b, silent) in enumerate(pieces)]


def joined(stretches: Sequence[Sequence[float]]) -> list[list[float]]:
    """(start, end) stretches sorted, those that overlap or touch joined: [[start, end], ...]."""
    out: list[list[float]] = []
    for a, b in sorted(stretches):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def _merged(duration: float, silences: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The silences clipped to [0, duration], sorted, overlapping ones joined."""
    clipped = [(max(0.0, a), min(duration, b)) for a, b in silences]
    return [(a, b) for a, b in joined([(a, b) for a, b in clipped if b > a])]


def _cut_out(grid: list[tuple[float, float]], silences: list[tuple[float, float]]) -> list[list]:
    """The grid's spans with the silences cut out of them: [start, end, silent] in time order."""
    pieces: list[list] = []
    for a, b in grid:
        position = a
        for s, e in silences:
            if e <= position or s >= b:
                continue
            if s > position:
                pieces.append([position, s, False])
            position = min(e, b)
        if position < b:
            pieces.append([position, b, False])
    for s, e in silences:
        pieces.append([s, e, True])
    pieces.sort(key=lambda p: (p[0], p[2]))
    return pieces


def _without_scraps(pieces: list[list], min_seconds: float) -> list[tuple[float, float, bool]]:
    """Music pieces shorter than `min_seconds` joined to the music they touch, or silent where they touch none;
    neighbouring silent pieces joined into one."""
    runs: list[list[list]] = []  # runs of music pieces between silences, and silences (as runs of one)
    for piece in pieces:
        if runs and not piece[2] and not runs[-1][-1][2]:
            runs[-1].append(piece)
        else:
            runs.append([piece])
    out: list[list] = []
    for run in runs:
        if not run[0][2] and len(runs) > 1 and run[-1][1] - run[0][0] < min_seconds:
            run = [[run[0][0], run[-1][1], True]]  # too little music to be worth playing
        while len(run) > 1 and any(b - a < min_seconds for a, b, _ in run):
            k = next(i for i, (a, b, _) in enumerate(run) if b - a < min_seconds)
            into = k - 1 if k > 0 else k + 1  # the music before it, or after it at a run's start
            lo, hi = min(k, into), max(k, into)
            run[lo:hi + 1] = [[run[lo][0], run[hi][1], False]]
        for piece in run:
            if out and piece[2] and out[-1][2]:
                out[-1][1] = piece[1]
            else:
                out.append(list(piece))
    return [(a, b, silent) for a, b, silent in out]


def _spans(start: float, end: float, cuts: Sequence[float], segment_seconds: float, min_seconds: float,
           snap_seconds: float, landings: Sequence[float] = ()) -> list[tuple[float, float]]:
    """[start, end] in spans of about `segment_seconds`, as plan_segments says."""
    bounds = [start]
    while end - bounds[-1] >= segment_seconds + min_seconds:
        previous = bounds[-1]
        target = previous + segment_seconds
        for places in (cuts, landings, [target]):
            usable = [c for c in places if abs(c - target) <= snap_seconds and c - previous >= min_seconds
                      and end - c >= min_seconds]
            if usable:
                bounds.append(min(usable, key=lambda c: abs(c - target)))
                break
    bounds.append(end)
    return list(zip(bounds[:-1], bounds[1:]))
