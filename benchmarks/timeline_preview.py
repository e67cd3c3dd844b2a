"""Benchmark: the preview of an edit (`cotvtm score EDIT -o preview.mp4`), whose picture is rendered small.

    python benchmarks/timeline_preview.py              # 1080p30 sources, an edit of 6 clips, 48 s
    python benchmarks/timeline_preview.py --clips 30   # a longer edit: 30 clips of 8 s

An edit of clips cut from synthetic 1920x1080 30 fps videos with sound is scored by the `cotvtm score` command in a
child process, as the desktop app runs it for a project's preview (procedural backend, a work folder kept): first
from nothing, then again with one clip changed, when only that clip's picture renders again. Prints wall time,
realtime factor (edit seconds / wall seconds), the picture's share, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

WORK = Path(__file__).parent / "_work"
SOURCE_SECONDS = 60
CLIP_SECONDS = 8.0


def source_video(index: int) -> Path:
    path = WORK / f"source-{index}-1080p30.mp4"
    if not path.exists():
        WORK.mkdir(exist_ok=True)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30,hue=h={index * 60}",
                        "-f", "lavfi", "-i", f"sine=frequency={220 * (index + 1)}:sample_rate=48000",
                        "-t", str(SOURCE_SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-g", "60",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return path


def edit(clips: int, shift: float = 0.0) -> dict:
    """`clips` clips of CLIP_SECONDS taken in turn from three sources; `shift` moves the last clip's in point."""
    sources = [source_video(i) for i in range(3)]
    entries = []
    for k in range(clips):
        start = (k * 7.0) % (SOURCE_SECONDS - CLIP_SECONDS - 1) + (shift if k == clips - 1 else 0.0)
        entries.append({"path": str(sources[k % 3]), "in": start, "out": start + CLIP_SECONDS})
    return {"clips": entries}


def score_in_child(timeline: Path, work: Path) -> tuple[float, float, dict]:
    out = timeline.with_suffix(".preview.mp4")
    start = time.perf_counter()
    with tempfile.TemporaryFile() as messages:
        child = subprocess.Popen([sys.executable, "-m", "cotvtm_desktop", "score", str(timeline), "-o", str(out),
                                  "--work", str(work), "--backend", "procedural", "--overwrite"],
                                 stdout=subprocess.DEVNULL, stderr=messages)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            messages.seek(0)
            raise SystemExit(f"scoring {timeline} failed: {messages.read().decode(errors='replace')}")
    return wall, usage.ru_maxrss / 1024, json.loads(out.with_suffix(".json").read_text())["timings"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cotvtm-preview-bench-"))
    try:
        timeline, work = folder / "edit.json", folder / "work"
        seconds = args.clips * CLIP_SECONDS
        print(f"edit: {args.clips} clips of 1920x1080 30 fps with sound, {seconds:g} s; {os.cpu_count()} CPUs\n")
        print(f"{'run':<24}{'wall s':>8}{'x realtime':>12}{'picture s':>11}{'analysis s':>12}{'peak MiB':>10}")
        for name, shift in (("from nothing", 0.0), ("one clip changed", 1.0)):
            timeline.write_text(json.dumps(edit(args.clips, shift)))
            wall, rss, timings = score_in_child(timeline, work)
            print(f"{name:<24}{wall:>8.2f}{seconds / wall:>12.1f}{timings.get('picture', 0):>11.2f}"
                  f"{timings.get('analysis', 0):>12.2f}{rss:>10.0f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
