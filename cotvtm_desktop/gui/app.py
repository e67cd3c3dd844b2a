"""Start the desktop app: `cotvtm gui`, or the packaged app with no arguments."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cotvtm_desktop import __version__

ORGANISATION, APPLICATION = "cotvtm", "cotvtm-desktop"


def data_dir() -> Path:
    """Where the queue, previews and segment caches live ($COTVTM_GUI_DATA, else the OS's app data folder)."""
    from PySide6.QtCore import QStandardPaths

    override = os.environ.get("COTVTM_GUI_DATA")
    if override:
        return Path(override)
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def main(files: list[Path] | None = None) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from cotvtm_desktop.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    window = MainWindow(QSettings(), data_dir())
    if files:
        window.add_paths(files)
    window.show()
    return app.exec()
