"""Start the desktop app: `cotvtm gui`, or the packaged app with no arguments."""

from __future__ import annotations

import os
import signal
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
    _stop_on_signals(app, window)
    return app.exec()


def _stop_on_signals(app, window) -> None:
    """Ctrl-C in the terminal or a terminate (logout, `kill`) cancels running jobs cleanly and quits, without the
    question closing the window asks. Qt's event loop keeps Python from running signal handlers, so a timer hands
    it control a few times a second."""
    from PySide6.QtCore import QTimer

    from cotvtm_desktop.gui.window import CLOSE_WAIT_MS

    def stop(signum, frame) -> None:
        window.tasks.shut_down(CLOSE_WAIT_MS)
        window.queue.save()
        app.quit()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(200)
