"""What the job runner asks of a music backend, whichever it is (procedural or neural)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Protocol

import numpy as np

from cotvtm_desktop.analysis.scan import Timeline
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.media.segments import Segment


@dataclass(frozen=True)
class SegmentEdit:
    """What the user changed about one segment (GUI or `--segments FILE`): its own seed, words for its music (the
    neural backend decodes them instead of E_m), or changes to its music brief (procedural backend: genre,
    tempo_bpm, key, mode, intensity); or no music at all there (`silent`: a toast, a song sung, a moment whose own
    sound is the point); or its music louder or quieter than the mix puts it (`music_db`; either backend, the music
    itself unchanged). Unedited segments are left exactly as they were. `at`: the (start, end) seconds of the
    segment the edit was made for, when known (the app's): it follows that segment whatever its number becomes."""

    seed: int | None = None
    prompt: str | None = None
    brief: dict = field(default_factory=dict)
    silent: bool = False
    at: tuple[float, float] | None = None
    music_db: float = 0.0

    def seed_or(self, default: int) -> int:
        return default if self.seed is None else self.seed


@dataclass
class SegmentMusic:
    """One segment's music as planned: what it will be (description, manifest details) and its cache key."""

    segment: Segment
    description: str
    cache_key: str
    details: dict = field(default_factory=dict)  # for the manifest and the GUI
    state: object = None  # the backend's own data for rendering; not written anywhere
    silent: bool = False  # no music: nothing to render, the music before it ends there and the next begins afresh


def silent_music(segment: Segment, visual: VisualElements) -> SegmentMusic:
    """A segment the user wants no music in, as every backend plans it."""
    return SegmentMusic(segment, "no music here, as you asked", "silent", {"visual": visual.to_json(), "silent": True},
                        silent=True)


def silent_indices(segments: list[Segment], edits: Mapping[int, SegmentEdit]) -> set[int]:
    """The segments the user wants no music in: by their time (--silent-at) or by their edit."""
    return {s.index for s in segments if s.silent or edits.get(s.index, SegmentEdit()).silent}


class MusicBackend(Protocol):
    """A backend whose decoder gains from batching may also offer `render_across(jobs, cancel, on_step)`, which
    renders several videos' segments together; `cotvtm batch` uses it when present (see music/neural.py)."""

    name: str
    sample_rate: int  # of the audio `render` yields; stereo (n, 2) float32
    features_id: str  # identifies what keyframe_features computes, for the analysis cache
    makes_midi: bool  # whether write_midi can work (--midi)
    stems: tuple[str, ...]  # the parts `render(..., stems=True)` gives apart, two channels each (--stems); () if none
    sharp_starts: bool  # whether each segment's audio begins from silence at its start (see media.audio.stitch)
    runs_on: str  # where and in what number format the music is made, for the manifest ("cpu, MusicGen in bfloat16")

    def keyframe_features(self) -> Callable[[list[np.ndarray]], np.ndarray] | None:
        """Per-keyframe features the backend needs from the video scan (RGB keyframes -> rows), if any."""

    def plan(self, timeline: Timeline, segments: list[Segment], visuals: list[VisualElements],
             padding: float, voices: list[tuple[float, float]] = (),
             edits: Mapping[int, SegmentEdit] | None = None) -> list[SegmentMusic]:
        """Decide every segment's music (cheap); rendering comes after. `voices`: (start, end) seconds where
        someone speaks in the original sound that the music will sit under, for music that makes room. `edits`:
        the user's, by segment index (jobs.edits.place_edits)."""

    def render(self, plan: list[SegmentMusic], todo: list[int], padding: float,
               cached: Callable[[int], np.ndarray | None], cancel: threading.Event | None = None,
               on_step: Callable[[int, int, int], None] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Audio for the segments in `todo`, each covering [start - padding, end + padding]. `cached(i)` gives a
        finished segment's audio (a continuation may start from it). Stops early, yielding nothing more, once
        `cancel` is set; `on_step(segment index, step, steps)` reports progress within a segment. A backend with
        `stems` also takes `stems=True`: then each segment's parts apart, (n, 2 x len(stems))."""

    def bar_seconds(self, plan: list[SegmentMusic]) -> float | None:
        """How long a bar of the planned music lasts at the tempo its segments share, where the backend plays to a
        beat it chooses (a slideshow's photos are timed in it); None where it does not."""

    def write_midi(self, plan: list[SegmentMusic], path: Path) -> None:
        """The arrangement as a MIDI file, where the backend has one."""
