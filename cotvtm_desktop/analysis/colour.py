"""Colour of a frame: brightness, saturation, warmth and a palette of named colours."""

from __future__ import annotations

import numpy as np

# Named colour bins; hue ranges in degrees for chromatic pixels. Pixels that are too dark, too pale or too grey
# are counted as black / white / grey instead.
COLOUR_NAMES = ("black", "white", "grey", "red", "orange", "brown", "yellow", "green", "teal", "blue", "purple", "pink")
_HUE_BINS = (("red", 0, 15), ("orange", 15, 40), ("yellow", 40, 70), ("green", 70, 160), ("teal", 160, 200),
             ("blue", 200, 260), ("purple", 260, 300), ("pink", 300, 345), ("red", 345, 361))
# Warm hues (reds to yellows) and cool hues (greens through violets), as in colour-emotion studies
# (Ou, Luo, Woodcock & Wright 2004, "A study of colour emotion and colour preference", Color Res. Appl. 29(3)).
_WARM_HUES = ((0, 70), (330, 361))
_COOL_HUES = ((150, 290),)


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360), saturation and value in [0, 1], for a uint8 RGB array."""
    x = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    mx, mn = x.max(axis=1), x.min(axis=1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    hue = np.where(delta > 0, hue, 0.0)
    saturation = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return hue, saturation, mx


def _in_ranges(hue: np.ndarray, ranges) -> np.ndarray:
    return np.logical_or.reduce([(hue >= lo) & (hue < hi) for lo, hi in ranges])


def colour_stats(rgb: np.ndarray, hsv: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> dict[str, float | np.ndarray]:
    """Brightness (Rec.601 luma), saturation, warmth in [-1, 1] and the share of each named colour.

    `hsv` is rgb_to_hsv(rgb) when the caller has it already.
    """
    hue, sat, val = hsv if hsv is not None else rgb_to_hsv(rgb)
    luma = (rgb.reshape(-1, 3).astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0
    chromatic = (sat > 0.2) & (val > 0.2)
    weight = np.where(chromatic, sat, 0.0)
    total = max(float(weight.sum()), 1e-6)
    warmth = (float(weight[_in_ranges(hue, _WARM_HUES)].sum()) - float(weight[_in_ranges(hue, _COOL_HUES)].sum()))
    warmth = warmth / total if weight.sum() > 0 else 0.0
    return {
        "brightness": float(luma.mean()),
        "saturation": float(sat.mean()),
        "warmth": float(warmth) * min(1.0, float(chromatic.mean()) * 4),  # a few coloured pixels barely count
        "palette": _palette_counts(hue, sat, val),
    }


def _palette_counts(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(COLOUR_NAMES), np.float32)
    index = {name: i for i, name in enumerate(COLOUR_NAMES)}
    black = val < 0.18
    white = (val > 0.85) & (sat < 0.15) & ~black
    grey = (sat < 0.2) & ~black & ~white
    counts[index["black"]], counts[index["white"]], counts[index["grey"]] = black.sum(), white.sum(), grey.sum()
    chromatic = ~(black | white | grey)
    for name, lo, hi in _HUE_BINS:
        members = chromatic & (hue >= lo) & (hue < hi)
        if name in ("orange", "red"):  # dark oranges and reds read as brown
            brown = members & (val < 0.55)
            counts[index["brown"]] += brown.sum()
            members &= ~brown
        counts[index[name]] += members.sum()
    return counts / max(len(hue), 1)


def palette_names(shares: np.ndarray, k: int = 3, minimum: float = 0.08) -> list[str]:
    """The k most present named colours, dropping those under `minimum` of the picture."""
    order = np.argsort(shares)[::-1][:k]
    names = [COLOUR_NAMES[i] for i in order if shares[i] >= minimum]
    return names or [COLOUR_NAMES[int(order[0])]]
