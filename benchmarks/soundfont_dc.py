"""Listen by numbers: DC offsets in a soundfont's samples, and what taking them away does to the tunes.

    python benchmarks/soundfont_dc.py                  # the shipped TimGM6mb
    python benchmarks/soundfont_dc.py FluidR3_GM.sf2   # another General MIDI font

Prints how many of the font's samples carry a DC offset (their mean over 10 % of their RMS about it), then, for
each instrument a user may give the tune (music_rules.json "leads"), a 4.8 s tune played alone through this
product's player and the share of its energy under 20 Hz, with each sample's offset taken away (as it plays) and
without (as a player that leaves it, such as FluidSynth, would).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cotvtm_desktop import config  # noqa: E402
from cotvtm_desktop.brief import MusicBrief  # noqa: E402
from cotvtm_desktop.music.arranger import arrange_segment, plan_video  # noqa: E402
from cotvtm_desktop.music.mixdown import ROLE_GAIN  # noqa: E402
from cotvtm_desktop.music.procedural import _mixed, _placed_notes, _reserve  # noqa: E402
from cotvtm_desktop.music.soundfont import SoundFont  # noqa: E402
from cotvtm_desktop.reasoning.rules import edit_brief, music_rules  # noqa: E402

RATE = 48000


def offset_samples(font: SoundFont) -> tuple[int, int]:
    """(samples with a DC offset over 10 % of their RMS, samples)."""
    samples = [font.sample(index) for index in range(len(font._headers) - 1)]
    waves = [data[h.start:h.end].astype(np.float64) for data, h in samples if h.end - h.start >= 100]
    offset = sum(abs(wave.mean()) > 0.1 * np.sqrt(((wave - wave.mean()) ** 2).mean()) for wave in waves)
    return int(offset), len(waves)


def low_share(audio: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    return float(power[np.fft.rfftfreq(len(audio), 1 / RATE) < 20].sum() / power.sum())


def render(font: SoundFont, midi, seconds: float) -> np.ndarray:
    """The MIDI's notes through `font`, mixed dry (no room), as the procedural backend renders them."""
    notes = _placed_notes(midi, seconds, 0.0, RATE)
    _reserve(font, notes, RATE)
    return _mixed(font, notes, seconds, RATE, None, False, ROLE_GAIN)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else config.soundfont_path()
    taken_away, kept = SoundFont(path), SoundFont(path)
    kept._offset = lambda first, last: 0.0  # the samples as they are
    offset, total = offset_samples(taken_away)
    print(f"{path.name}: {offset} of {total} samples carry a DC offset (over 10 % of their RMS)")
    brief = MusicBrief("acoustic folk", [], ["warm"], "steady", 100.0, "D", "major", 0.6, 0.6, 0.5)
    plan = plan_video([4.8], [brief], [0])[0]
    print(f"{'lead':>18}  energy under 20 Hz: offsets taken away / kept")
    for name in music_rules()["leads"]:
        tune = arrange_segment(edit_brief(brief, {"lead": name, "without": ["chords", "bass", "drums"]}), plan, 0)
        away, as_is = (low_share(render(font, tune, 4.8)) for font in (taken_away, kept))
        print(f"{name:>18}  {100 * away:6.2f} % / {100 * as_is:6.2f} %")


if __name__ == "__main__":
    main()
