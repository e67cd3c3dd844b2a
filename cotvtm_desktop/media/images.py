"""Still images, read upright: JPEG, PNG, WebP, TIFF, and phones' HEIC/HEIF and AVIF.

Pillow reads most formats itself (AVIF since 11.3); HEIC, the format iPhones (and many Android phones) save photos
in, through pi-heif's Pillow plugin (libheif, decode only). A phone photo's turn is undone as it is shown: HEIF's own
rotation (`irot`) by libheif, which then reports no EXIF turn left, every other format's EXIF orientation here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cotvtm_desktop.errors import BadMediaError

_heif_registered = False
_EXIF_ORIENTATION = 0x0112


def open_image(path: Path):
    """`path` opened with Pillow (a PIL.Image, lazily decoded; use it as a context manager). Raises
    PIL.UnidentifiedImageError or OSError for a file that is not a readable image."""
    global _heif_registered
    from PIL import Image  # here, not at the top: every `cotvtm` command imports the media package

    if not _heif_registered:  # by content, not by name: a HEIC renamed .jpg by some exporter still opens
        import pi_heif

        pi_heif.register_heif_opener()
        _heif_registered = True
    return Image.open(path)


def load_image(path: Path, at_least: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as upright RGB (EXIF orientation applied); BadMediaError if it cannot be read whole. With
    `at_least` (width, height, upright), a picture needed no larger: see load_picture."""
    return np.asarray(load_picture(path, at_least))


def load_picture(path: Path, at_least: tuple[int, int] | None = None):
    """An image file as an upright RGB PIL image. With `at_least`, a JPEG is decoded at 1/2, 1/4 or 1/8 of its
    size when that is still at least this wide and this high (its DCT scaled as it is decoded: a phone's photo
    needed small decodes several times quicker, in a fraction of the memory); other formats come whole."""
    from PIL import ImageOps

    try:
        with open_image(path) as image:
            if at_least is not None:
                width, height = at_least
                image.draft("RGB", (height, width) if quarter_turned(image) else (width, height))
            return ImageOps.exif_transpose(image).convert("RGB")
    except OSError as exc:  # PIL's UnidentifiedImageError too; a truncated file shows only as it is decoded
        raise unreadable_image(path, exc) from None


def quarter_turned(image) -> bool:
    """Whether the PIL image's EXIF orientation (5-8) turns it by a quarter: its width and height trade places (a
    phone photo taken upright)."""
    return image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)


def unreadable_image(path: Path, exc: Exception) -> BadMediaError:
    return BadMediaError(f"not a readable image ({exc}); re-save or re-copy it", path)


def save_upright(path: Path, target: Path) -> Path:
    """The image at `path` written upright as the PNG `target`, for ffmpeg: whichever build it is, it then reads the
    picture as the analysis saw it (HEIC and AVIF included, every EXIF turn applied). Returns `target`."""
    from PIL import Image

    Image.fromarray(load_image(path)).save(target, compress_level=1)  # fast: the file lives for one ffmpeg call
    return target
