"""Benchmark: score synthetic 1280x720 30 fps videos with audio on the procedural backend.

    python benchmarks/score_procedural.py                    # 60 s and 600 s
    python benchmarks/score_procedural.py 60 --phone         # 3840x2160 30 fps 10-bit HEVC, a phone's default
    python benchmarks/score_procedural.py 60 --phone-hdr     # the same tagged HLG, as iPhones film (HDR)
    python benchmarks/score_procedural.py 600 --stems        # with the music's parts written apart too
    python benchmarks/score_procedural.py 600 --soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2   # another font
    python benchmarks/score_procedural.py 60 120             # other lengths
    python benchmarks/score_procedural.py --batch 600 600 60 # `cotvtm batch` over a folder of these
    python benchmarks/score_procedural.py 60 --repeat 8      # eight runs and their median
    python benchmarks/score_procedural.py --slideshow 30     # a slideshow of 30 12-megapixel photos (score --slideshow)
    python benchmarks/score_procedural.py --slideshow 30 --dissolve   # the photos dissolving into each other
    python benchmarks/score_procedural.py --slideshow 30 --slideshow-size 360   # the app's quick look at it

Each video is scored by the `cotvtm score` command in a child process, as a user runs it: its peak RSS is measured
alone, and Python's start, the imports and the exit count. The stage columns come from the output's manifest;
"start+exit" is the rest of the wall time. Prints wall time, realtime factor (video seconds / wall seconds) and
peak RSS.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

WORK = Path(__file__).parent / "_work"


SOURCES = {  # name: (what it is, its file's suffix, FFmpeg's picture source, its encoding)
    "720p": ("1280x720 30 fps H.264 with audio", "720p30.mp4", "testsrc2=size=1280x720:rate=30",
             ["-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p"]),
    # as a phone films by default: 4K HEVC in 10 bits, a keyframe every second, tagged for Apple's players; the
    # noise keeps the encoder from making the picture trivially cheap to decode (its 60 s take minutes to encode)
    "phone": ("3840x2160 30 fps 10-bit HEVC with audio", "2160p30-hevc.mov",
              "testsrc2=size=3840x2160:rate=30,noise=alls=6:allf=t",
              ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=30:log-level=error",
               "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1"]),
    # the same pixels tagged HLG in BT.2020, as iPhones film by default: its frames go through media/hdr.py
    "phone-hdr": ("3840x2160 30 fps 10-bit HEVC HLG with audio", "2160p30-hevc-hlg.mov",
                  "testsrc2=size=3840x2160:rate=30,noise=alls=6:allf=t,format=yuv420p10le,"
                  "setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc:range=tv",
                  ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=30:log-level=error",
                   "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1"]),
}


def synthetic_video(seconds: int, source: str = "720p") -> Path:
    _, suffix, picture, encoding = SOURCES[source]
    path = WORK / f"synthetic-{seconds}s-{suffix}"
    if not path.exists():
        WORK.mkdir(exist_ok=True)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000",
                        "-t", str(seconds), *encoding, "-c:a", "aac", str(path)], check=True)
    return path


def synthetic_photos(count: int) -> Path:
    """A folder of `count` 12-megapixel phone photos (4032x3024 JPEGs, every third one upright), a minute apart."""
    import numpy as np
    from PIL import Image

    folder = WORK / f"photos-{count}"
    if not folder.exists():
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        grain = rng.normal(0, 10, (504, 504, 3))  # tiled: noise for the encoders without drawing 12 M values each
        for number in range(count):
            width, height = (3024, 4032) if number % 3 == 2 else (4032, 3024)
            y, x = np.mgrid[0:height, 0:width]
            picture = np.stack([x / width * 255, y / height * 255, np.full((height, width), 40.0 * (number % 6))], -1)
            picture += np.tile(grain, (height // 504, width // 504, 1))
            exif = Image.Exif()
            exif.get_ifd(0x8769)[36867] = f"2024:07:01 10:{number % 60:02d}:00"
            Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(folder / f"IMG_{number:04d}.jpg",
                                                                              quality=90, exif=exif)
    return folder


def score_in_child(video: Path, extra: tuple[str, ...] = ()) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS (MiB) and the manifest's stage timings of `cotvtm score video` run as a user runs it:
    a new Python process, so start-up, imports and exit count."""
    out = video.with_name(video.stem + ".scored.mp4")
    start = time.perf_counter()
    with tempfile.TemporaryFile() as messages:
        child = subprocess.Popen([sys.executable, "-m", "cotvtm_desktop", "score", str(video), "-o", str(out),
                                  "--overwrite", *extra], stdout=subprocess.DEVNULL, stderr=messages)
        _, status, usage = os.wait4(child.pid, 0)  # its own rusage: the peak RSS of this one run
        wall = time.perf_counter() - start
        if status != 0:
            messages.seek(0)
            raise SystemExit(f"scoring {video} failed: {messages.read().decode(errors='replace')}")
    return wall, usage.ru_maxrss / 1024, json.loads(out.with_suffix(".json").read_text())["timings"]


def batch_in_child(videos: list[Path]) -> float:
    """Wall seconds of `cotvtm batch` over a folder holding `videos` (hard links), in a fresh process."""
    folder, out = WORK / "batch-in", WORK / "batch-out"
    for stale in (folder, out):
        shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir()
    for number, video in enumerate(videos):
        os.link(video, folder / f"{number:02d}-{video.name}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cotvtm_desktop", "batch", str(folder), "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def byte_compile_package() -> None:
    """Byte-compile cotvtm_desktop, as pip does when it installs a package. This development machine sets
    PYTHONDONTWRITEBYTECODE, so without this every run would first compile the package's sources (0.08-0.1 s),
    which no installed copy does."""
    import cotvtm_desktop

    compileall.compile_dir(Path(cotvtm_desktop.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Score synthetic videos with the procedural backend.")
    parser.add_argument("lengths", nargs="*", type=int, help="video lengths in seconds (default: 60 600)")
    parser.add_argument("--batch", action="store_true", help="one `cotvtm batch` over videos of these lengths "
                        "(default: 600 600 60)")
    parser.add_argument("--repeat", type=int, default=1, help="score each video this many times and add a median "
                        "row (this machine's speed drifts by 10-15 %% from minute to minute)")
    parser.add_argument("--phone", action="store_const", const="phone", default="720p", dest="source",
                        help="4K 10-bit HEVC videos, as phones film by default, instead of 720p H.264")
    parser.add_argument("--phone-hdr", action="store_const", const="phone-hdr", dest="source",
                        help="the same, tagged HLG (HDR) as iPhones film by default")
    parser.add_argument("--stems", action="store_true", help="also write the music's parts apart (--stems)")
    parser.add_argument("--soundfont", type=Path, help="play the music with this General MIDI .sf2 (--soundfont)")
    parser.add_argument("--slideshow", type=int, metavar="PHOTOS", help="score a folder of this many 12-megapixel "
                        "photos as a slideshow (4 s each, full HD) instead of videos")
    parser.add_argument("--dissolve", action="store_true", help="with --slideshow: photos dissolve (--dissolve)")
    parser.add_argument("--slideshow-size", type=int, default=1080, help="with --slideshow: the film's shorter "
                        "side (--slideshow-size; the desktop app previews a slideshow at 360)")
    args = parser.parse_args()
    options = ("--stems",) * args.stems + (("--soundfont", str(args.soundfont)) if args.soundfont else ()) + (
        ("--dissolve",) * args.dissolve)
    byte_compile_package()
    if args.slideshow:
        slideshow(args.slideshow, max(1, args.repeat), (*options, "--slideshow-size", str(args.slideshow_size)))
        return
    if args.batch:
        lengths = args.lengths or [600, 600, 60]
        wall = batch_in_child([synthetic_video(seconds, args.source) for seconds in lengths])
        print(f"\ncotvtm batch, {len(lengths)} videos ({' + '.join(map(str, lengths))} s), {os.cpu_count()} CPU cores: "
              f"{wall:.2f} s wall, {sum(lengths) / wall:.1f} x realtime")
        return
    rows = []
    for seconds in args.lengths or [60, 600]:
        video = synthetic_video(seconds, args.source)
        runs = [score_in_child(video, options) for _ in range(max(1, args.repeat))]
        rows += [(str(seconds), seconds, *run) for run in runs]
        if len(runs) > 1:
            walls = [wall for wall, _, _ in runs]
            stages = {n: statistics.median(run[2][n] for run in runs) for n in runs[0][2]}
            rows.append(("median", seconds, statistics.median(walls), max(rss for _, rss, _ in runs), stages))
    print(f"\nprocedural backend, {SOURCES[args.source][0]}{', with ' + ' '.join(options) if options else ''}, "
          f"{os.cpu_count()} CPU cores")
    print_rows(rows, ("analysis", "music", "mixing", "writing"))
    firsts = [row for row in rows if row[0] != "median"]
    if len({row[1] for row in firsts}) > 1:
        print(f"peak RSS {firsts[-1][1]} s vs {firsts[0][1]} s: {firsts[-1][3] / firsts[0][3] - 1:+.0%}")


def slideshow(photos: int, repeat: int, options: tuple[str, ...]) -> None:
    """Score the folder of photos as a slideshow `repeat` times; the film's length is the manifest's (each photo
    lasts the whole bars of its music nearest 4 s)."""
    folder = synthetic_photos(photos)
    rows = []
    for _ in range(repeat):
        wall, rss, timings = score_in_child(folder, ("--slideshow", "--photo-seconds", "4", *options))
        manifest = json.loads(folder.with_name(folder.stem + ".scored.json").read_text())
        rows.append((f"{manifest['input']['duration']:.0f}", manifest["input"]["duration"], wall, rss, timings))
    print(f"\nprocedural backend, a slideshow of {photos} 4032x3024 JPEG photos, about 4 s each, 30 fps, with "
          f"{' '.join(options)}, {os.cpu_count()} CPU cores")
    print_rows(rows, ("photo timing", "analysis", "music", "picture", "mixing", "writing"))


def print_rows(rows: list[tuple], names: tuple[str, ...]) -> None:
    header = f"{'video s':>8} {'wall s':>8} {'x realtime':>11} {'peak RSS MiB':>13}  "
    widths = [max(9, len(n)) for n in names]
    print(header + " ".join(f"{n:>{w}}" for n, w in zip(names, widths)) + f" {'start+exit':>11}")
    for label, seconds, wall, rss, stages in rows:
        print(f"{label:>8} {wall:>8.2f} {seconds / wall:>11.1f} {rss:>13.0f}  "
              + " ".join(f"{stages[n]:>{w}.2f}" for n, w in zip(names, widths)) + f" {wall - stages['total']:>11.2f}")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
