"""Listen by numbers: whether the tune leads the band in each genre's mix.

    python benchmarks/part_balance.py [--seconds 30] [--seeds 4]

Scores a synthetic video (silent, colour bars) in each genre of resources/music_rules.json with `--genre G --stems`
(procedural backend, the shipped soundfont), once per seed, and prints each part's integrated loudness (LUFS of its
stem, as it sits in the music) against the melody's: the lowest and highest over the seeds. Negative: under the
tune. The gains in music_rules.json ("gain") are set so that every part stays under it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cotvtm_desktop.brief import PARTS  # noqa: E402
from cotvtm_desktop.jobs.runner import ScoreOptions, score  # noqa: E402
from cotvtm_desktop.reasoning.rules import music_rules  # noqa: E402


def make_video(path: Path, seconds: int) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=25:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True)


def part_levels(stems: Path) -> dict[str, float]:
    """Each audible stem's loudness, LUFS."""
    meter = pyloudnorm.Meter(48000)
    levels = {}
    for part in PARTS:
        audio = soundfile.read(stems / f"{part}.wav")[0]
        if np.abs(audio).max() > 1e-4:
            levels[part] = meter.integrated_loudness(audio)
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "bars.mp4"
        make_video(video, args.seconds)
        print(f"each part's loudness against the melody's, LU (lowest .. highest over {args.seeds} seeds, "
              f"{args.seconds} s)")
        print(f"| genre | {' | '.join(PARTS[1:])} |")
        print(f"| --- |{' --- |' * (len(PARTS) - 1)}")
        for genre in music_rules()["genres"]:
            relative: dict[str, list[float]] = {}
            for seed in range(args.seeds):
                out = Path(folder) / f"{genre}-{seed}.wav"
                score(video, out, ScoreOptions(genre=genre, seed=seed, stems=True))
                levels = part_levels(out.with_suffix(".stems"))
                for part, level in levels.items():
                    relative.setdefault(part, []).append(level - levels["melody"])
            cells = [f"{min(relative[p]):+.1f} .. {max(relative[p]):+.1f}" if p in relative else "—"
                     for p in PARTS[1:]]
            print(f"| {genre} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
