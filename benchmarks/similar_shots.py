"""How far apart similar_shots (media/slideshow.py) finds shots of one moment, the same view taken again, and other
photos: the numbers SIMILAR_SHOT_DIFFERENCE (config.py) is set between.

    python benchmarks/similar_shots.py

From each of the tests' photos (tests/data: two portraits, a cat, a cup of coffee) it makes shots as a phone's
burst takes them (the frame shifted up to 1.5 % of its size, zoomed ±2 %, turned up to 1°, exposed ±4 %, with
sensor noise), the same view taken again after a step (zoomed 1.3×, moved 8 %), and pairs the photos with each
other; then prints each kind's differences and how many fall under the threshold.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cotvtm_desktop import config  # noqa: E402
from cotvtm_desktop.media.slideshow import _shot  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
PHOTOS = ["astronaut.jpg", "grace_hopper.jpg", "chelsea.jpg", "coffee.jpg"]
BURST_SHOTS = 8


def taken(picture: Image.Image, folder: Path, name: str, rng: np.random.Generator, shift: tuple[float, float],
          zoom: float, turn: float, exposure: float) -> Path:
    """The view of `picture` a camera takes with its frame moved by `shift` (fractions of the size), zoomed, turned
    (degrees) and exposed so, with sensor noise; saved as a JPEG."""
    width, height = picture.size
    crop_w, crop_h = width / zoom, height / zoom
    left, top = (width - crop_w) / 2 + shift[0] * width, (height - crop_h) / 2 + shift[1] * height
    view = picture.rotate(turn, Image.Resampling.BICUBIC).crop((round(left), round(top), round(left + crop_w),
                                                              round(top + crop_h))).resize((width, height))
    pixels = np.asarray(ImageEnhance.Brightness(view).enhance(exposure), np.float32)
    noisy = np.clip(pixels + rng.normal(0, 2, pixels.shape), 0, 255).astype(np.uint8)
    path = folder / name
    Image.fromarray(noisy).save(path, quality=90)
    return path


def difference(first: Path, second: Path) -> float:
    return float(np.abs(_shot(first).small - _shot(second).small).mean())


def main() -> None:
    rng = np.random.default_rng(0)
    kinds: dict[str, list[float]] = {"burst": [], "taken again": [], "other photo": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        firsts = []
        for n, name in enumerate(PHOTOS):
            picture = Image.open(DATA / name).convert("RGB")
            first = taken(picture, folder, f"{n}-first.jpg", rng, (0, 0), 1.05, 0, 1.0)
            firsts.append(first)
            for k in range(BURST_SHOTS):
                shot = taken(picture, folder, f"{n}-burst{k}.jpg", rng, tuple(rng.uniform(-0.015, 0.015, 2)),
                             1.05 * rng.uniform(0.98, 1.02), rng.uniform(-1, 1), rng.uniform(0.96, 1.04))
                kinds["burst"].append(difference(first, shot))
            again = taken(picture, folder, f"{n}-again.jpg", rng, (rng.choice([-0.08, 0.08]), rng.uniform(-0.05, 0.05)),
                          1.3, rng.uniform(-3, 3), 1.0)
            kinds["taken again"].append(difference(first, again))
        for i, first in enumerate(firsts):
            for other in firsts[i + 1:]:
                kinds["other photo"].append(difference(first, other))
    threshold = config.SIMILAR_SHOT_DIFFERENCE
    print(f"differences of {config.SIMILAR_SHOT_SIDE}x{config.SIMILAR_SHOT_SIDE} pictures (mean absolute, of full "
          f"scale); one moment under {threshold:g}")
    print(f"{'kind':<12} {'pairs':>5} {'min':>6} {'median':>7} {'max':>6} {'under':>6}")
    for kind, values in kinds.items():
        under = sum(value < threshold for value in values)
        print(f"{kind:<12} {len(values):>5} {min(values):>6.3f} {np.median(values):>7.3f} {max(values):>6.3f} "
              f"{under:>3}/{len(values)}")


if __name__ == "__main__":
    main()
