"""Benchmark: how long the segment pictures of a long video take (`cotvtm inspect --thumbnails --at ...`, what the
desktop app runs after a preview to show each segment's picture on its tile).

    python benchmarks/thumbnails.py                # the 600 s 720p synthetic video, one picture per 10 s segment
    python benchmarks/thumbnails.py 600 --phone    # the 4K 10-bit HEVC one (made on first use: minutes)

Runs the command in a child process, as the app does, and prints the wall time and the time per picture.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from score_procedural import WORK, synthetic_video


def main() -> None:
    parser = argparse.ArgumentParser(description="How long a long video's segment pictures take.")
    parser.add_argument("lengths", nargs="*", type=int, help="video lengths in seconds (default: 600)")
    parser.add_argument("--phone", action="store_const", const="phone", default="720p", dest="source",
                        help="4K 10-bit HEVC videos, as phones film by default, instead of 720p H.264")
    args = parser.parse_args()
    print(f"\ncotvtm inspect --thumbnails, one picture per 10 s segment ({args.source})")
    print(f"{'video s':>8} {'pictures':>9} {'wall s':>8} {'ms / picture':>13}")
    for seconds in args.lengths or [600]:
        video = synthetic_video(seconds, args.source)
        times = [5.0 + 10 * k for k in range(seconds // 10)]
        folder = WORK / "thumbnails"
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cotvtm_desktop", "inspect", str(video), "--thumbnails", str(folder),
                        *(arg for t in times for arg in ("--at", f"{t:g}"))], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        print(f"{seconds:>8} {len(times):>9} {wall:>8.2f} {1000 * wall / len(times):>13.1f}")


if __name__ == "__main__":
    main()
