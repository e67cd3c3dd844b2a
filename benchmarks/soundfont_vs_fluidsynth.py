"""Listen by numbers: this product's SoundFont player (music/soundfont.py) against FluidSynth, note by note.

    python benchmarks/soundfont_vs_fluidsynth.py                     # the shipped TimGM6mb
    python benchmarks/soundfont_vs_fluidsynth.py FluidR3_GM.sf2      # another General MIDI font

Needs the `fluidsynth` program (apt install fluidsynth), the reference SF2 synthesiser. Each of the instruments
the procedural genres use plays one note for 2 s in both (FluidSynth without its reverb and chorus); the first table
gives the spectral centroid (Hz: how bright the sound is) every quarter second, and the level of the whole note in
dB relative to FluidSynth's. The second plays each part of a 20 s arrangement of every genre (the arranger's own
notes, velocities and drums) in both, and gives where they differ most in their octave-band spectra, each
spectrum taken relative to its own total (so a different overall level does not count). Both are measured
without what lies under 20 Hz: FluidSynth plays a sample's DC offset, this player takes it away (SoundFont._offset),
and a DC offset is no sound — FluidR3_GM's warm pad is more than half DC in FluidSynth's rendering.
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


def without_dc(audio: np.ndarray) -> np.ndarray:
    """`audio` (samples × channels) without its content under 20 Hz: its DC offset and the offset's slow changes."""
    spectrum = np.fft.rfft(audio, axis=0)
    spectrum[np.fft.rfftfreq(len(audio), 1 / RATE) < 20] = 0
    return np.fft.irfft(spectrum, len(audio), axis=0)


def fluidsynth_note(font: Path, program: int, key: int, folder: Path) -> np.ndarray:
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program)
    instrument.notes.append(pretty_midi.Note(100, key, 0.0, 2.0))
    midi.instruments.append(instrument)
    return fluidsynth(font, midi, folder)


def fluidsynth(font: Path, midi: pretty_midi.PrettyMIDI, folder: Path) -> np.ndarray:
    midi.write(str(folder / "played.mid"))
    # written as floats: FluidSynth's default 16-bit file is dithered, and as a note dies away the dither's flat
    # noise floor brightens its spectrum (a piano's centroid rose from 681 to 1011 Hz over its last second)
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "1", "-r", str(RATE),
                    "-o", "audio.file.format=float", "-F", str(folder / "played.wav"), str(font),
                    str(folder / "played.mid")], check=True, capture_output=True)
    return without_dc(soundfile.read(folder / "played.wav", dtype="float32", always_2d=True)[0])


OCTAVES = (63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)


def octave_levels(audio: np.ndarray) -> np.ndarray:
    """dB in each octave band around OCTAVES, relative to the whole signal's energy."""
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    hz = np.fft.rfftfreq(len(audio), 1 / RATE)
    bands = np.array([spectrum[(hz >= f / 2 ** 0.5) & (hz < f * 2 ** 0.5)].sum() for f in OCTAVES])
    return 10 * np.log10(np.maximum(bands, 1e-20) / spectrum.sum())


def arrangement_parts(genre: str, seconds: float = 20.0) -> dict[str, pretty_midi.PrettyMIDI]:
    """A `seconds` arrangement of `genre` by the product's arranger, each part (role) on its own."""
    from cotvtm_desktop.brief import MusicBrief
    from cotvtm_desktop.music.arranger import arrange_segment, plan_video
    from cotvtm_desktop.reasoning.rules import band_of, music_rules

    spec = music_rules()["genres"][genre]
    brief = MusicBrief(genre, band_of(genre).instruments(), ["warm"], "steady", sum(spec["tempo"]) / 2, "D", "major",
                       0.6, 0.6, 0.5)
    whole = arrange_segment(brief, plan_video([seconds], [brief], [0])[0], 0)
    parts = {}
    for instrument in whole.instruments:
        alone = pretty_midi.PrettyMIDI(initial_tempo=brief.tempo_bpm)
        alone.instruments.append(instrument)
        parts[instrument.name] = alone
    return parts


def compare_arrangements(font: Path, folder: Path) -> None:
    from cotvtm_desktop.music.procedural import render_midi
    from cotvtm_desktop.reasoning.rules import music_rules

    print(f"\n{font.name}: each part of a 20 s arrangement, octave bands ({', '.join(map(str, OCTAVES))} Hz) "
          "relative to the part's total; where this player differs most from FluidSynth")
    print(f"{'genre':>22} {'part':>7} {'most different band':>20} {'by dB':>6} {'bands within 3 dB':>18}")
    for genre in music_rules()["genres"]:
        for role, midi in arrangement_parts(genre).items():
            reference = fluidsynth(font, midi, folder)
            played = without_dc(render_midi(midi, len(reference) / RATE, 0.0, RATE, soundfont=font))
            audible = octave_levels(reference) > -40  # bands holding a part's sound, not its rounding noise
            difference = np.where(audible, octave_levels(played) - octave_levels(reference), 0.0)
            worst = int(np.argmax(np.abs(difference)))
            print(f"{genre:>22} {role:>7} {OCTAVES[worst]:>17} Hz {difference[worst]:>+6.1f} "
                  f"{int((np.abs(difference[audible]) <= 3).sum()):>10} of {int(audible.sum())}")


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
            played = without_dc(ours.render_note(0, program, key, 100, 2.0, RATE)[:2 * RATE])
            level = 10 * np.log10(np.mean(played ** 2) / np.mean(reference ** 2))
            print(f"{name:>15} {'fluidsynth':>10} " + " ".join(f"{c:>5.0f}" for c in centroids(reference)))
            print(f"{'':>15} {'this':>10} " + " ".join(f"{c:>5.0f}" for c in centroids(played)) + f"   {level:+8.1f}")
        compare_arrangements(font, Path(folder))


if __name__ == "__main__":
    main()
