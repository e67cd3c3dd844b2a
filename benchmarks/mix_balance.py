"""Listen by numbers: where the music sits against a video's own sound, in the mp4 a user gets.

    python benchmarks/mix_balance.py

Scores 30 s synthetic videos whose sound is one of the situations a home video meets — someone talking in a quiet
room, waves, gusting wind, talk over waves and over wind, a vlog talked through — with the `cotvtm score` command
(procedural backend, defaults), once to .mp4 and once to .wav (the music alone, as it sits in that mix). The
original's part of the mix is the mp4's audio less the music. Prints, per stretch of each video, the loudness
(LUFS) of the music and of the original sound in the mix, the music's place as the manifest gives it, and how long
the music was dipped. The voice is synthetic (a gliding buzz with formants, in syllables), not speech.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import soundfile

RATE = 48000
SECONDS = 30
TALK = [(8.0, 16.0), (20.0, 26.0)]
STRETCHES = [(1.0, 7.0, "before talk"), (9.0, 15.0, "talk"), (17.0, 19.5, "pause"), (21.0, 25.0, "talk")]


def noise(level_db: float, rng: np.random.Generator, below_hz: float | None = None) -> np.ndarray:
    """Pink noise (or, `below_hz`, rumble like wind's) at `level_db` dBFS RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(SECONDS * RATE))
    frequencies = np.fft.rfftfreq(SECONDS * RATE, 1 / RATE)
    spectrum /= np.sqrt(np.maximum(frequencies, 1.0))
    if below_hz:
        spectrum[frequencies > below_hz] = 0
    mono = np.fft.irfft(spectrum, SECONDS * RATE)
    return mono * 10 ** (level_db / 20) / np.sqrt((mono ** 2).mean())


def voice(level_db: float, spans: list[tuple[float, float]]) -> np.ndarray:
    t = np.arange(SECONDS * RATE) / RATE
    phase = 2 * np.pi * np.cumsum(150 + 30 * np.sin(2 * np.pi * 0.7 * t)) / RATE
    formants = lambda f: 1 + 4 * np.exp(-((f - 600) / 250) ** 2) + 2 * np.exp(-((f - 1500) / 400) ** 2)  # noqa: E731
    mono = sum(np.sin(k * phase) * formants(150 * k) / k for k in range(1, 24))
    mono *= np.clip(np.sin(2 * np.pi * 4 * t), 0, 1) ** 2
    talking = np.zeros(len(t), bool)
    for start, end in spans:
        talking |= (t >= start) & (t < end)
    return mono * talking * 10 ** (level_db / 20) / np.sqrt((mono[talking] ** 2).mean())


def swelling(audio: np.ndarray, depth_db: float, period: float) -> np.ndarray:
    t = np.arange(len(audio)) / RATE
    return audio * 10 ** (depth_db / 20 * np.clip(np.sin(2 * np.pi * t / period), 0, 1) ** 3)


def situations() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "talk in a quiet room": noise(-50, rng) + voice(-24, TALK),
        "waves": swelling(noise(-25, rng), 3, 10),
        "talk over waves": swelling(noise(-32, rng), 3, 10) + voice(-20, TALK),
        "gusting wind": swelling(noise(-22, rng, below_hz=150), 5, 6.7),
        "talk over wind": swelling(noise(-22, rng, below_hz=150), 5, 6.7) + voice(-24, TALK),
        "a vlog, talked through": noise(-50, rng) + voice(-22, [(0.5, 29.5)]),
    }


def make_video(path: Path, sound: np.ndarray) -> None:
    wav = path.with_suffix(".wav")
    soundfile.write(wav, np.stack([sound, sound], axis=1).astype(np.float32), RATE)
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=25:duration={SECONDS}", "-i", str(wav), "-c:v", "libx264",
                    "-c:a", "aac", "-b:a", "192k", "-shortest", str(path)], check=True)
    wav.unlink()


def decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        frames = [f.to_ndarray().reshape(-1, 2) for packet in container.decode(audio=0)
                  for f in resampler.resample(packet)]
    return np.concatenate(frames)


def cotvtm(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cotvtm_desktop", "score", *args, "--overwrite", "--backend", "procedural"],
                   check=True, capture_output=True)


def main() -> None:
    meter = pyloudnorm.Meter(RATE)
    loudness = lambda audio, a, b: meter.integrated_loudness(audio[int(a * RATE):int(b * RATE)])  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        for name, sound in situations().items():
            video = Path(folder) / "clip.mp4"
            make_video(video, sound)
            cotvtm(str(video), "-o", str(Path(folder) / "mix.mp4"))
            cotvtm(str(video), "-o", str(Path(folder) / "music.wav"))
            mix = decoded(Path(folder) / "mix.mp4")
            music = soundfile.read(Path(folder) / "music.wav", dtype="float32")[0]
            n = min(len(mix), len(music))
            mix, music = mix[:n], music[:n]
            original = mix - music
            report = json.loads((Path(folder) / "mix.json").read_text())["loudness"]
            print(f"\n{name}: {report['music_placed']}; music dipped {report['music_dipped_seconds']} s; "
                  f"mix {meter.integrated_loudness(mix):.1f} LUFS")
            print(f"  {'stretch':<12} {'music LUFS':>10} {'original LUFS':>13} {'music - original':>16}")
            for start, end, what in STRETCHES:
                m, o = loudness(music, start, end), loudness(original, start, end)
                print(f"  {what:<12} {m:10.1f} {o:13.1f} {m - o:16.1f}")


if __name__ == "__main__":
    main()
