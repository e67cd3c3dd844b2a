"""The procedural backend: visual measurements -> rules -> arrangement -> General MIDI soundfont audio.

Instant, offline, CPU-only, and the arrangement can be exported as MIDI.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pretty_midi

from cotvtm_desktop import config
from cotvtm_desktop.analysis.scan import Timeline
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.brief import MusicBrief
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.segments import Segment
from cotvtm_desktop.music.arranger import ROLE_GAIN, SegmentPlan, arrange_segment, plan_video
from cotvtm_desktop.music.backend import SegmentEdit, SegmentMusic
from cotvtm_desktop.music.midi_export import join_segments
from cotvtm_desktop.music.soundfont import load_soundfont
from cotvtm_desktop.reasoning.rules import edit_brief, reason

RENDERER_VERSION = 2  # bump when arranging or rendering changes, so cached segment audio is not reused


class ProceduralBackend:
    name = "procedural"
    sample_rate = config.OUTPUT_SAMPLE_RATE  # rendered at the export rate: nothing to resample
    features_id = ""
    makes_midi = True

    def __init__(self, seed: int = config.SEED, edits: dict[int, SegmentEdit] | None = None):
        self.seed, self.edits = seed, dict(edits or {})

    def keyframe_features(self) -> None:
        return None  # the rules work from the scan's own measurements

    def plan(self, timeline: Timeline, segments: list[Segment], visuals: list[VisualElements],
             padding: float) -> list[SegmentMusic]:
        measured = [reason(v) for v in visuals]
        edited = {i: (self._edited_brief(i, measured[i], e.brief), set(e.brief)) for i, e in self.edits.items()
                  if i < len(segments) and e.brief}
        seeds = [self._seed(s.index) for s in segments]
        plans = plan_video([s.duration for s in segments], measured, seeds, edited)
        items = []
        for s, v, b, p, seed in zip(segments, visuals, measured, plans, seeds):
            brief = edited[s.index][0] if s.index in edited else b
            details = {"visual": v.to_json(), "brief": brief.to_json(), "arrangement": p.to_json(), "seed": seed}
            items.append(SegmentMusic(s, brief.description(), self._cache_key(brief, p, seed, s.duration, padding),
                                      details, (brief, p, seed)))
        return items

    def render(self, plan: list[SegmentMusic], todo: list[int], padding: float, cached=None, cancel=None,
               on_step=None) -> Iterator[tuple[int, np.ndarray]]:
        for i in todo:  # a segment renders in a fraction of a second: cancel is checked between segments
            if cancel is not None and cancel.is_set():
                return
            item = plan[i]
            midi = arrange_segment(*item.state)
            yield i, render_midi(midi, item.segment.duration + 2 * padding, padding, self.sample_rate)

    def write_midi(self, plan: list[SegmentMusic], path: Path) -> None:
        clips = [arrange_segment(*m.state) for m in plan]
        joined = join_segments(clips, [m.segment.start for m in plan], [m.state[1].bpm for m in plan])
        joined.write(str(path))

    @staticmethod
    def _edited_brief(index: int, brief: MusicBrief, changes: dict) -> MusicBrief:
        try:
            return edit_brief(brief, changes)
        except UserError as exc:
            raise UserError(f"segment {index + 1}: {exc}") from None

    def _seed(self, index: int) -> int:
        edit = self.edits.get(index)
        return self.seed if edit is None else edit.seed_or(self.seed)

    def _cache_key(self, brief: MusicBrief, plan: SegmentPlan, seed: int, seconds: float, padding: float) -> str:
        payload = json.dumps([RENDERER_VERSION, seed, brief.to_json(), plan.to_json(), round(seconds, 4),
                              padding, self.sample_rate], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]


def render_midi(midi: pretty_midi.PrettyMIDI, seconds: float, offset: float, rate: int) -> np.ndarray:
    """Render `midi` through the General MIDI soundfont into a (n, 2) float32 buffer of `seconds`, notes shifted
    by `offset` seconds."""
    font = load_soundfont(config.soundfont_path())
    out = np.zeros((int(round(seconds * rate)), 2), np.float32)
    for instrument in midi.instruments:
        bank = 128 if instrument.is_drum else 0
        gain = ROLE_GAIN.get(instrument.name, 1.0)
        for note in instrument.notes:
            audio = font.render_note(bank, instrument.program, note.pitch, note.velocity, note.end - note.start, rate)
            start = int(round((note.start + offset) * rate))
            if start >= len(out) or not len(audio):
                continue
            stop = min(len(out), start + len(audio))
            out[start:stop] += gain * audio[:stop - start]
    return out
