"""Benchmark: FFmpeg's AAC coders and bitrates on the product's own music: encoding CPU, the bitrate they really
produce, and perceived quality by Zimtohrli (Google's perceptual audio metric) when it is installed.

    pip install zimtohrli                       # optional: without it, CPU and bitrate only
    python benchmarks/aac_coders.py             # FFmpeg's defaults at 192k, fast 192k, the product's setting
    python benchmarks/aac_coders.py twoloop:128000 fast:128000
    python benchmarks/aac_coders.py fast:192000 fast:192000:aac_ms=0   # with FFmpeg encoder options

The material: one 8 s excerpt of each genre the procedural backend knows (a synthetic silent video scored with
every segment's genre set, mixed and mastered as the product does), plus pink noise, a voice-like signal over
ducked music, and music over noise (home videos keep their own sound). Re-run it when PyAV moves to a new FFmpeg:
the AAC encoder is the largest single cost of scoring a video. Its CPU depends on the material as much as on the
settings (see benchmarks/RESULTS.md): time a setting on benchmarks/score_procedural.py too before adopting it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np

RATE = 48000
EXCERPT = 8 * RATE


def genre_excerpts() -> dict[str, np.ndarray]:
    """An 8 s mastered stereo excerpt from the middle of each genre's 10 s segment."""
    from cotvtm_desktop.jobs.runner import ScoreOptions, start_job
    from cotvtm_desktop.music.backend import SegmentEdit
    from cotvtm_desktop.reasoning.rules import music_rules

    genres = list(music_rules()["genres"])
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "silent.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=320x180:rate=30", "-t", str(10 * len(genres)), "-c:v", "libx264", "-g", "60",
                        str(video)], check=True)
        edits = {i: SegmentEdit(brief={"genre": genre}) for i, genre in enumerate(genres)}
        job = start_job(video, Path(folder) / "out.mp4", ScoreOptions(backend="procedural", segments=edits))
        job.render()
        _, soundtrack = job._master()
        mix = np.concatenate(list(soundtrack.blocks()))
        soundtrack.remove()
    return {genre: mix[i * 10 * RATE + RATE:i * 10 * RATE + RATE + EXCERPT] for i, genre in enumerate(genres)}


def noisy_excerpts(music: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.normal(0, 1, (EXCERPT, 2)), axis=0)
    pink = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1))[:, None], EXCERPT, axis=0)
    pink *= 0.1 / np.abs(pink).max()
    t = np.arange(EXCERPT) / RATE
    syllables = (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2 * (np.sin(2 * np.pi * 0.5 * t) > -0.3)
    voice = (np.sign(np.sin(2 * np.pi * 140 * t)) + 0.3 * rng.normal(0, 1, EXCERPT)) * syllables
    voice = 0.3 * voice / np.abs(voice).max()
    return {"pink noise": pink, "voice over ducked music": voice[:, None] + 0.25 * music,
            "music over noise": music + 0.5 * pink}


def encode(audio: np.ndarray, coder: str, bitrate: int, options: dict[str, str]) -> tuple[list[av.Packet], float]:
    """The AAC packets of `audio` and the CPU seconds encoding took."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format, encoder.bit_rate = RATE, "stereo", "fltp", bitrate
    encoder.time_base = Fraction(1, RATE)
    encoder.options = {"aac_coder": coder, **options}
    encoder.open()
    planar = np.ascontiguousarray(audio.T, np.float32)
    frames = []
    for start in range(0, planar.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + 1024]), format="fltp",
                                           layout="stereo")
        frame.sample_rate, frame.pts = RATE, start
        frames.append(frame)
    began = time.process_time()
    packets = [p for frame in frames for p in encoder.encode(frame)] + list(encoder.encode(None))
    return packets, time.process_time() - began


def decode(packets: list[av.Packet], length: int) -> np.ndarray:
    decoder = av.CodecContext.create("aac", "r")
    decoder.sample_rate, decoder.layout = RATE, "stereo"
    planar = np.concatenate([f.to_ndarray() for p in packets for f in decoder.decode(p)], axis=1)
    return planar.T[1024:1024 + length]  # FFmpeg's encoder starts with one priming frame


def parse_setting(text: str) -> tuple[str, int, dict[str, str]]:
    """coder:bitrate[:option=value,...], e.g. fast:192000:aac_ms=0,aac_tns=0."""
    coder, bitrate, *rest = text.split(":")
    options = dict(item.split("=", 1) for item in rest[0].split(",")) if rest else {}
    return coder, int(bitrate), options


def main() -> None:
    configs = [parse_setting(arg) for arg in sys.argv[1:]] or [
        ("twoloop", 192_000, {}), ("fast", 192_000, {}), ("fast", 224_000, {"aac_ms": "0"})]
    try:
        import zimtohrli
        metric = zimtohrli.Pyohrli()
    except ImportError:
        zimtohrli = metric = None
        print("zimtohrli is not installed (pip install zimtohrli): CPU and bitrate only")
    clips = genre_excerpts()
    clips |= noisy_excerpts(clips["upbeat pop"])
    names = [" ".join([coder, f"{bitrate // 1000}k", *(f"{k}={v}" for k, v in options.items())])
             for coder, bitrate, options in configs]
    print(f"\n{'excerpt (8 s)':26}" + "".join(f"{n:>26}" for n in names))
    print(f"{'':26}" + "".join(f"{'CPU s  kbit/s  MOS':>26}" for _ in names))
    totals = {n: [0.0, [], []] for n in names}
    for clip, audio in clips.items():
        audio = np.clip(audio, -1, 1).astype(np.float32)
        cells = []
        for name, (coder, bitrate, options) in zip(names, configs):
            packets, cpu = encode(audio, coder, bitrate, options)
            kbps = sum(p.size for p in packets) * 8 / (len(audio) / RATE) / 1000
            mos = float("nan")
            if metric is not None:
                decoded = decode(packets, len(audio))
                mos = zimtohrli.mos_from_zimtohrli(
                    float(np.mean([metric.distance(audio[:, c], decoded[:, c]) for c in range(2)])))
            totals[name][0] += cpu
            totals[name][1].append(kbps)
            totals[name][2].append(mos)
            cells.append(f"{cpu:8.3f} {kbps:7.1f} {mos:6.3f}")
        print(f"{clip[:26]:26}" + "".join(f"{c:>26}" for c in cells), flush=True)
    print(f"{'all: CPU, mean, min MOS':26}" + "".join(
        f"{t[0]:8.3f} {np.mean(t[1]):7.1f} {np.mean(t[2]):6.3f}/{np.min(t[2]):.3f}".rjust(26)
        for t in totals.values()))


if __name__ == "__main__":
    main()
