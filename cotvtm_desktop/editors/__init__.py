"""Editor projects and plugins' shared pieces: reading an edit's main video track into a timeline input, writing a
copy of the project with the music on a new audio track. MLT projects (Shotcut, Kdenlive) are read by mlt.py;
interchange timelines (OpenTimelineIO, FCP 7 XML, CMX 3600 EDL) by interchange.py; Final Cut Pro's FCPXML by
fcpxml.py. Each module offers
`read_project(path)` (a project with `timeline()`), `write_with_music(project, music, output, stems=())` (the
music on one track, or its stems on a track each) and the OUTPUT_SUFFIXES a copy may have.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.editors import fcpxml, interchange, mlt

_EDITORS = {".mlt": mlt, ".kdenlive": mlt, **{suffix: interchange for suffix in interchange.FORMATS},
            ".fcpxml": fcpxml, fcpxml.BUNDLE_SUFFIX: fcpxml}
PROJECT_SUFFIXES = tuple(_EDITORS)  # the same as config.PROJECT_EXTENSIONS, which lower layers see


def editor_for(path: Path) -> ModuleType:
    """The module that reads and writes `path`'s kind of project."""
    editor = _EDITORS.get(Path(path).suffix.lower())
    if editor is None:
        raise UserError(f"not an editor project this can read (use {', '.join(PROJECT_SUFFIXES)})", path)
    return editor
