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


def load_image(path: Path) -> np.ndarray:
    """An image file as upright RGB (EXIF orientation applied); BadMediaError if it cannot be read whole."""
    from PIL import ImageOps

    try:
        with open_image(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except OSError as exc:  # PIL's UnidentifiedImageError too; a truncated file shows only as it is decoded
        raise unreadable_image(path, exc) from None


def unreadable_image(path: Path, exc: Exception) -> BadMediaError:
    return BadMediaError(f"not a readable image ({exc}); re-save or re-copy it", path)


def save_upright(path: Path, target: Path) -> Path:
    """The image at `path` written upright as the PNG `target`, for ffmpeg: whichever build it is, it then reads the
    picture as the analysis saw it (HEIC and AVIF included, every EXIF turn applied). Returns `target`."""
    from PIL import Image

    Image.fromarray(load_image(path)).save(target, compress_level=1)  # fast: the file lives for one ffmpeg call
    return target
