from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from media import make_two_shot_video, make_video  # noqa: E402


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def compressed_font(tmp_path_factory) -> Path:
    """The shipped TimGM6mb.sf2 compressed into a SoundFont 3, as MuseScore's sftools makes one."""
    from cotvtm_desktop import config
    from media import compressed_soundfont

    return compressed_soundfont(config.soundfont_path(), tmp_path_factory.mktemp("sf3") / "TimGM6mb.sf3")


@pytest.fixture(scope="session")
def clip12(media_dir) -> Path:
    """12 s of colour bars with a 440 Hz tone: the everyday test video."""
    return make_video(media_dir / "bars tone 12s.mp4", 12)


@pytest.fixture(scope="session")
def silent_clip(media_dir) -> Path:
    return make_video(media_dir / "no-audio.mp4", 6, audio=False)


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> Path:
    """The editor projects' media, in a folder of their own: warm.mp4 (12 s, a cut at 6 s), cool.mp4 (9 s)."""
    folder = tmp_path_factory.mktemp("project sources")
    make_two_shot_video(folder / "warm.mp4", "orange", "yellow", 6.0, 12.0)
    make_two_shot_video(folder / "cool.mp4", "navy", "navy", 4.5, 9.0)
    return folder


# Tests never see a developer's own models or the network: an empty models folder and an offline, empty HF cache.
_isolated = Path(__file__).parent / ".isolated-home"
os.environ["COTVTM_MODELS"] = str(_isolated / "models")
os.environ["HF_HOME"] = str(_isolated / "hf")
os.environ["COTVTM_CACHE"] = str(_isolated / "cache")  # built once per checkout (the object model's graph)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the GUI tests run without a display
