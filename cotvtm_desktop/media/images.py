"""Still images, read upright and in sRGB: JPEG, PNG, WebP, TIFF, and phones' HEIC/HEIF and AVIF.

Pillow reads most formats itself (AVIF since 11.3); HEIC, the format iPhones (and many Android phones) save photos
in, through pi-heif's Pillow plugin (libheif, decode only). A phone photo's turn is undone as it is shown: HEIF's own
rotation (`irot`) by libheif, which then reports no EXIF turn left, every other format's EXIF orientation here.
A photo in a wider colour space than sRGB (an iPhone's Display P3, a camera's Adobe RGB) comes converted to sRGB, as
a photo viewer shows it on an ordinary screen and as the video made from it is tagged (BT.709's primaries are
sRGB's): from its embedded ICC profile through Little CMS (Pillow's ImageCms), or from the primaries a HEIF's `nclx`
colour box states. Read as sRGB numbers as they are, its colours would come out dull.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from cotvtm_desktop.errors import BadMediaError

_heif_registered = False
_EXIF_ORIENTATION = 0x0112
_SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))  # red, green, blue (x, y): BT.709's
_D65 = (0.3127, 0.3290)
_NCLX_SRGB_TRANSFER = (2, 13)  # unspecified, or IEC 61966-2-1 (sRGB): what phones write
_ROWS_AT_ONCE = 256  # a large photo is converted a band of rows at a time: float copies of it stay small


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
            icc, nclx = image.info.get("icc_profile"), image.info.get("nclx_profile")
            picture = _as_rgb(ImageOps.exif_transpose(image))
    except OSError as exc:  # PIL's UnidentifiedImageError too; a truncated file shows only as it is decoded
        raise unreadable_image(path, exc) from None
    if icc:
        return _icc_to_srgb(picture, icc)
    return _nclx_to_srgb(picture, nclx) if isinstance(nclx, dict) else picture


def _as_rgb(image):
    """The PIL image as 8-bit RGB as a viewer shows it: a 16-bit grey one (a scan, a PNG export) from its top eight
    bits, not clipped to white; a transparent one over black, not its hidden colours."""
    from PIL import Image

    if image.mode.startswith("I;16") or (image.mode == "I" and image.getextrema()[1] > 255):
        grey = np.asarray(image).astype(np.uint32) >> 8
        return Image.fromarray(np.minimum(grey, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        shown = image.convert("RGBA")
        picture = Image.new("RGB", shown.size)
        picture.paste(shown, mask=shown.getchannel("A"))
        return picture
    return image.convert("RGB")


def _icc_to_srgb(picture, icc: bytes):
    """The RGB PIL image in sRGB from the colour space of its ICC profile (left as it is when that profile already
    is sRGB, is not an RGB one, or cannot be read: the numbers are then taken as sRGB, as most viewers would)."""
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space.strip() != "RGB" or "srgb" in profile.profile.profile_description.lower():
            return picture
        return ImageCms.profileToProfile(picture, profile, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return picture


@functools.cache
def _srgb_profile():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _nclx_to_srgb(picture, nclx: dict):
    """The RGB PIL image in sRGB from a HEIF's stated primaries (pi-heif's `nclx_profile`), when its transfer is
    sRGB's (as phones write) and its primaries are not sRGB's already: linear light through the 3×3 matrix between
    the two, colours outside sRGB clipped."""
    from PIL import Image

    def point(name: str) -> tuple[float, float]:  # its (x, y)
        return nclx[f"color_primary_{name}_x"], nclx[f"color_primary_{name}_y"]

    try:
        primaries, white = tuple(map(point, ("red", "green", "blue"))), point("white")
    except KeyError:
        return picture
    if nclx.get("transfer_characteristics") not in _NCLX_SRGB_TRANSFER or np.allclose(
            [*primaries, white], [*_SRGB_PRIMARIES, _D65], atol=2e-3):
        return picture
    matrix = np.linalg.solve(_rgb_to_xyz(_SRGB_PRIMARIES, _D65), _rgb_to_xyz(primaries, white)).astype(np.float32)
    to_light, to_code = _srgb_curves()
    rgb = np.array(picture)  # a copy, written over band by band
    for top in range(0, rgb.shape[0], _ROWS_AT_ONCE):
        band = to_light[rgb[top:top + _ROWS_AT_ONCE]] @ matrix.T
        rgb[top:top + _ROWS_AT_ONCE] = to_code[np.round(np.clip(band, 0, 1) * 4095).astype(np.int32)]
    return Image.fromarray(rgb)


@functools.cache
def _srgb_curves() -> tuple[np.ndarray, np.ndarray]:
    """sRGB's 8-bit code values to linear light (256 entries), and linear light (in 4096 steps) back to them."""
    code = np.arange(256, dtype=np.float64) / 255
    to_light = np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4).astype(np.float32)
    light = np.linspace(0, 1, 4096)
    to_code = np.round(255 * np.where(light <= 0.0031308, light * 12.92, 1.055 * light ** (1 / 2.4) - 0.055))
    return to_light, to_code.astype(np.uint8)


def _rgb_to_xyz(primaries, white) -> np.ndarray:
    """The matrix from linear RGB with these primaries and white ((x, y) each) to CIE XYZ (white's Y = 1)."""
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    x, y = white
    return columns * np.linalg.solve(columns, [x / y, 1.0, (1 - x - y) / y])


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
