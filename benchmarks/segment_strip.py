"""Benchmark: how long the desktop app's segment strip takes to show a file's segments.

    python benchmarks/segment_strip.py            # 60, 360 and 720 segments (10 min, 1 h, 2 h of video)
    python benchmarks/segment_strip.py 1440       # other counts

Runs the real SegmentStrip offscreen, 900x350 as in the window, on synthetic segments (no pictures): the time
`show_item` takes until the window is drawn again (the strip makes the tiles in view), the time to make every tile
after it (what scrolling through all of them costs, spread over the scroll), and to show it again then (every tile
torn down first, as when the user selects another file after scrolling through this one). Median of three.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from cotvtm_desktop.gui.queue import QueueItem, SegmentState  # noqa: E402
from cotvtm_desktop.gui.segment_strip import SegmentStrip  # noqa: E402

BRIEF = {"genre": "upbeat pop", "tempo_bpm": 110, "key": "D", "mode": "major", "intensity": 0.6}
DESCRIPTION = ("An upbeat pop piece led by electric piano, accompanied by acoustic guitar, electric bass, synth pad "
               "and drums, creating a joyful and uplifting atmosphere with an upbeat and driving rhythm.")


def item_with(count: int) -> QueueItem:
    segments = [SegmentState(k, 10.0 * k, 10.0 * k + 10, DESCRIPTION, dict(BRIEF), seed=0, hits=[10.0 * k + 5])
                for k in range(count)]
    return QueueItem("/videos/long.mp4", segments=segments, status="preview ready")


def timed(app: QApplication, strip: SegmentStrip, item: QueueItem) -> tuple[float, float, float, int]:
    """Seconds to show `item` (the strip showing it before with the tiles in view made), to make its every tile
    after, and to show it again then (the strip tears down every tile first); how many tiles the showing made."""
    strip.show_item(item)
    app.processEvents()

    def seconds(work) -> float:
        start = time.perf_counter()
        work()
        app.processEvents()
        return time.perf_counter() - start

    shown = seconds(lambda: strip.show_item(item))
    made_on_show = len(strip.tiles.made)
    every = seconds(lambda: [strip.tiles[index] for index in range(len(strip.tiles))])
    again = seconds(lambda: strip.show_item(item))
    return shown, every, again, made_on_show


def main() -> None:
    parser = argparse.ArgumentParser(description="How long the segment strip takes to show a file's segments.")
    parser.add_argument("counts", nargs="*", type=int, help="segment counts (default: 60 360 720)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    strip = SegmentStrip()
    strip.resize(900, 350)
    strip.show()
    print(f"\nsegment strip, offscreen, {os.cpu_count()} CPU cores")
    print(f"{'segments':>9} {'show s':>8} {'tiles made':>11} {'every tile s':>13} {'show again s':>13}")
    for count in args.counts or [60, 360, 720]:
        runs = [timed(app, strip, item_with(count)) for _ in range(3)]
        shown, every, again = (statistics.median(run[k] for run in runs) for k in range(3))
        print(f"{count:>9} {shown:>8.2f} {runs[0][3]:>11} {every:>13.2f} {again:>13.2f}")


if __name__ == "__main__":
    main()
