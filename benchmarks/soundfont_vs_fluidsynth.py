"""Listen by numbers: this product's SoundFont player (music/soundfont.py) against FluidSynth, note by note.

    python benchmarks/soundfont_vs_fluidsynth.py                     # the shipped TimGM6mb
    python benchmarks/soundfont_vs_fluidsynth.py FluidR3_GM.sf2      # another General MIDI font

Needs the `fluidsynth` program (apt install fluidsynth), the reference SF2 synthesiser. Each of the instruments
the procedural genres use plays one note for 2 s in both (FluidSynth without its reverb and chorus); the table gives
the spectral centroid (Hz: how bright the sound is) every quarter second, and the level of the whole note in dB
relative to FluidSynth's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile

from cotvtm_desktop import config
from cotvtm_desktop.music.soundfont import SoundFont

RATE = 48000
HOP = RATE // 4
NOTES = [(0, 60, "piano"), (4, 60, "electric piano"), (25, 52, "steel guitar"), (33, 40, "electric bass"),
         (42, 48, "cello"), (38, 36, "synth bass"), (81, 72, "saw lead"), (48, 60, "strings"), (73, 72, "flute")]


def centroids(audio: np.ndarray, count: int = 8) -> list[float]:
    mono = audio.mean(axis=1)
    out = []
    for start in range(0, min(len(mono) - HOP + 1, count * HOP), HOP):
        spectrum = np.abs(np.fft.rfft(mono[start:start + HOP] * np.hanning(HOP)))
        out.append(float((spectrum * np.fft.rfftfreq(HOP, 1 / RATE)).sum() / max(spectrum.sum(), 1e-12)))
    return out


def fluidsynth_note(font: Path, program: int, key: int, folder: Path) -> np.ndarray:
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program)
    instrument.notes.append(pretty_midi.Note(100, key, 0.0, 2.0))
    midi.instruments.append(instrument)
    midi.write(str(folder / "note.mid"))
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "1", "-r", str(RATE),
                    "-F", str(folder / "note.wav"), str(font), str(folder / "note.mid")], check=True,
                   capture_output=True)
    return soundfile.read(folder / "note.wav", dtype="float32", always_2d=True)[0]


def main() -> None:
    if shutil.which("fluidsynth") is None:
        raise SystemExit("needs the fluidsynth program (apt install fluidsynth)")
    font = Path(sys.argv[1]) if len(sys.argv) > 1 else config.soundfont_path()
    ours = SoundFont(font)
    print(f"{font.name}: spectral centroid (Hz) every 0.25 s of a 2 s note, FluidSynth / this player")
    print(f"{'instrument':>15} {'':>10} " + " ".join(f"{0.25 * k:>5.2f}" for k in range(8)) + "   level dB")
    with tempfile.TemporaryDirectory() as folder:
        for program, key, name in NOTES:
            reference = fluidsynth_note(font, program, key, Path(folder))[:2 * RATE]
            played = ours.render_note(0, program, key, 100, 2.0, RATE)[:2 * RATE]
            level = 10 * np.log10(np.mean(played ** 2) / np.mean(reference ** 2))
            print(f"{name:>15} {'fluidsynth':>10} " + " ".join(f"{c:>5.0f}" for c in centroids(reference)))
            print(f"{'':>15} {'this':>10} " + " ".join(f"{c:>5.0f}" for c in centroids(played)) + f"   {level:+8.1f}")


if __name__ == "__main__":
    main()
