"""The procedural backend: visual measurements -> rules -> arrangement -> General MIDI soundfont audio.

Instant, offline, CPU-only, and the arrangement can be exported as MIDI.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pretty_midi

from cotvtm_desktop import config
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.brief import MusicBrief
from cotvtm_desktop.music.arranger import ROLE_GAIN, SegmentPlan, arrange_segment, plan_video
from cotvtm_desktop.music.soundfont import load_soundfont
from cotvtm_desktop.reasoning.rules import reason

RENDERER_VERSION = 2  # bump when arranging or rendering changes, so cached segment audio is not reused


class ProceduralBackend:
    name = "procedural"
    sample_rate = config.OUTPUT_SAMPLE_RATE  # rendered at the export rate: nothing to resample

    def __init__(self, seed: int = config.SEED):
        self.seed = seed

    def briefs(self, visuals: list[VisualElements]) -> list[MusicBrief]:
        return [reason(v) for v in visuals]

    def plan(self, durations: list[float], briefs: list[MusicBrief]) -> list[SegmentPlan]:
        return plan_video(durations, briefs, self.seed)

    def cache_key(self, brief: MusicBrief, plan: SegmentPlan, seconds: float, padding: float) -> str:
        payload = json.dumps([RENDERER_VERSION, self.seed, brief.to_json(), plan.to_json(), round(seconds, 4),
                              padding, self.sample_rate], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def arrangement(self, brief: MusicBrief, plan: SegmentPlan) -> pretty_midi.PrettyMIDI:
        return arrange_segment(brief, plan, self.seed)

    def render(self, brief: MusicBrief, plan: SegmentPlan, seconds: float, padding: float) -> np.ndarray:
        """Stereo audio for one segment: `padding` s of lead-in, the segment, `padding` s of ringing tail."""
        return render_midi(self.arrangement(brief, plan), seconds + 2 * padding, padding, self.sample_rate)


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
