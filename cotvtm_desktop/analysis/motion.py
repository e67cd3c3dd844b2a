"""Dynamic of a shot: motion energy between sampled frames, and scene cuts."""

from __future__ import annotations

import numpy as np

from cotvtm_desktop import config

_HIST_BINS = (8, 4, 4)  # hue x saturation x value, coarse enough to ignore motion, fine enough to see a new shot
# A cut: the colour distribution jumps by at least this much (half the L1 distance of normalised histograms,
# 0 = same, 1 = disjoint) and stands clear of the recent background level of change.
CUT_DISTANCE = 0.35
CUT_OVER_BACKGROUND = 3.0
_BACKGROUND_WINDOW = 12
_MAX_MOTION_SCALE = 6.0  # frames closer than a sixth of a step say little about motion over a whole step


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0


def motion_energy(previous_luma: np.ndarray | None, current_luma: np.ndarray, seconds_apart: float) -> float:
    """Mean absolute luma change (camera and subject motion alike), scaled to one analysis step
    (1 / config.ANALYSIS_FPS) whatever the frames' distance in time, so sampling schemes compare."""
    if previous_luma is None or seconds_apart <= 0:
        return 0.0
    scale = min(_MAX_MOTION_SCALE, (1.0 / config.ANALYSIS_FPS) / seconds_apart)
    return float(np.abs(current_luma - previous_luma).mean()) * scale


def colour_histogram(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> np.ndarray:
    sample = np.stack([hue / 360.0, sat, val], axis=1)
    hist, _ = np.histogramdd(sample, bins=_HIST_BINS, range=((0, 1), (0, 1), (0, 1)))
    return (hist / max(hist.sum(), 1)).ravel()


def histogram_distance(a: np.ndarray | None, b: np.ndarray) -> float:
    return 0.0 if a is None else float(np.abs(a - b).sum() / 2)


def detect_cuts(distances: np.ndarray) -> list[int]:
    """The sampled frames that follow a scene cut, from each one's histogram distance to the one before it."""
    cuts = []
    for i in range(1, len(distances)):
        background = np.median(distances[max(1, i - _BACKGROUND_WINDOW):i]) if i > 1 else 0.0
        if distances[i] >= CUT_DISTANCE and distances[i] >= CUT_OVER_BACKGROUND * background:
            cuts.append(i)
    return cuts
