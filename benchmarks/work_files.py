"""Benchmark: the disk a score's work folder takes, at its peak while the job runs and kept after it.

    python benchmarks/work_files.py          # 60 s and 600 s synthetic 720p videos
    python benchmarks/work_files.py 120      # other lengths

Each video is scored by `cotvtm score VIDEO --work DIR` in a child process, as the desktop app runs it (the app keeps
an item's work folder so that an edit re-renders one segment): the folder's size is polled every 20 ms while the
job runs (its peak) and read once it is done (what stays). The kept segments are then written again as 32-bit
float WAV, as the work folder kept them before, and read back through `WorkDir`, to compare bytes and time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import soundfile

from score_procedural import WORK, synthetic_video

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cotvtm_desktop.jobs.workdir import WorkDir  # noqa: E402

MB = 1e6


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:  # written and replaced between listing and looking
            pass
    return total


def score_with_work_folder(video: Path, work: Path) -> tuple[int, int]:
    """Peak and kept bytes of the work folder of `cotvtm score video --work work`."""
    shutil.rmtree(work, ignore_errors=True)
    peak, done = 0, threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            if work.exists():
                peak = max(peak, folder_bytes(work))
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        subprocess.run([sys.executable, "-m", "cotvtm_desktop", "score", str(video), "-o",
                        str(video.with_name(video.stem + ".scored.mp4")), "--overwrite", "--work", str(work)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        done.set()
        poller.join()
    return max(peak, folder_bytes(work)), folder_bytes(work)


def segment_cache_compared(work: Path) -> tuple[int, int, float, float]:
    """The kept segments' bytes, the same audio's bytes as float WAV, and the seconds to write and to read them all
    back as the job does (WorkDir.save_segment / load_segment)."""
    files = sorted(work.glob("segment-*"))
    kept = sum(f.stat().st_size for f in files)
    job_store = WorkDir(Path("x.mp4"), work)
    store = WorkDir(Path("x.mp4"), work / "again")
    store.prepare(resume=False)
    as_wav, write_s, read_s = 0, 0.0, 0.0
    for number, path in enumerate(files):
        index, key = path.stem.split("-")[1:]
        music = job_store.load_segment(int(index), key)
        rate = soundfile.info(str(path)).samplerate
        with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
            soundfile.write(wav.name, music, rate, subtype="FLOAT")
            as_wav += Path(wav.name).stat().st_size
        start = time.perf_counter()
        store.save_segment(number, "key", music, rate)
        write_s += time.perf_counter() - start
        start = time.perf_counter()
        store.load_segment(number, "key")
        read_s += time.perf_counter() - start
    store.remove()
    return kept, as_wav, write_s / len(files), read_s / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description="The disk a score's work folder takes.")
    parser.add_argument("lengths", nargs="*", type=int, help="video lengths in seconds (default: 60 600)")
    args = parser.parse_args()
    print("\nprocedural backend, 1280x720 30 fps H.264 with audio, work folder kept (--work), MB = 10^6 bytes")
    print(f"{'video s':>8} {'peak MB':>8} {'kept MB':>8} {'peak MB/min':>12} {'kept MB/min':>12} "
          f"{'kept vs float WAV':>18} {'write ms/seg':>13} {'read ms/seg':>12}")
    for seconds in args.lengths or [60, 600]:
        work = WORK / f"work-{seconds}s"
        peak, kept = score_with_work_folder(synthetic_video(seconds), work)
        segments, as_wav, write_s, read_s = segment_cache_compared(work)
        minutes = seconds / 60
        print(f"{seconds:>8} {peak / MB:>8.0f} {kept / MB:>8.0f} {peak / MB / minutes:>12.1f} "
              f"{kept / MB / minutes:>12.1f} {segments / as_wav:>18.2f} {write_s * 1e3:>13.0f} {read_s * 1e3:>12.0f}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
