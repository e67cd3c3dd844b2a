"""One `cotvtm … --json-progress` child process, its JSON-lines events turned into Qt signals."""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

CANCEL_GRACE_MS = 15000  # after asking a job to cancel, how long before it is terminated (then killed)


def cli_command() -> list[str]:
    """How to run the `cotvtm` CLI from here: the packaged app is its own CLI; otherwise this Python's module."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "cotvtm_desktop"]


class CliProcess(QObject):
    """Runs one CLI command. `event` carries each JSON line; `finished(status, message)` comes once, with status
    "ok", "cancelled" or "failed" and, when failed, the CLI's own message."""

    event = Signal(object)  # the event dict as it is (Signal(dict) would convert it to a QVariantMap and back)
    finished = Signal(str, str)

    def __init__(self, args: list[str], parent: QObject | None = None):
        super().__init__(parent)
        self.args = args
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read_events)
        self.process.finished.connect(self._done)
        self.process.errorOccurred.connect(self._failed_to_start)
        self._buffer = b""
        self._error = ""
        self._cancelled = False
        self._reported = False

    def start(self) -> None:
        command = cli_command()
        self.process.start(command[0], command[1:] + self.args)

    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the job to stop (it stops within a segment and leaves no partial file); terminate it if it does not
        answer in time."""
        if not self.running() or self._cancelled:
            return
        self._cancelled = True
        self.process.write(b"cancel\n")
        QTimer.singleShot(CANCEL_GRACE_MS, self._terminate)

    def wait(self, msecs: int) -> bool:
        return self.process.waitForFinished(msecs)

    def kill(self) -> None:
        """End at once (only for jobs that write nothing, such as inspections)."""
        if self.running():
            self.process.kill()
            self.process.waitForFinished(2000)

    def _terminate(self) -> None:
        if self.running():
            self.process.terminate()
            QTimer.singleShot(CANCEL_GRACE_MS, self.process.kill)

    def _read_events(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not an event (a library printing to stdout)
            if isinstance(event, dict):
                if event.get("type") == "error":
                    self._error = event.get("message", "")
                self.event.emit(event)

    def _done(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_events()
        if self._cancelled or code == 130:
            self._finish("cancelled", "")
        elif code == 0 and status == QProcess.ExitStatus.NormalExit:
            self._finish("ok", "")
        else:
            stderr = bytes(self.process.readAllStandardError()).decode(errors="replace").strip()
            self._finish("failed", self._error or _last_line(stderr) or f"the job stopped (exit code {code})")

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._finish("failed", f"could not start {' '.join(cli_command())}: {self.process.errorString()}")

    def _finish(self, status: str, message: str) -> None:
        if not self._reported:
            self._reported = True
            self.finished.emit(status, message)


def _last_line(text: str) -> str:
    return text.splitlines()[-1] if text else ""
