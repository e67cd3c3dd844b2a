"""Errors a user can cause and fix. The CLI prints their message alone, never a traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """An expected failure: bad input, missing model, unwritable folder, full disk, cancel.

    The message names the file involved and what to do about it.
    """

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class BadMediaError(UserError):
    """The input is not a readable video or image."""


class OutputError(UserError):
    """The output cannot be written (exists, unwritable folder, disk full)."""


class Cancelled(UserError):
    """The user cancelled the job; nothing partial is left behind."""

    def __init__(self, path: Path | str | None = None):
        super().__init__("cancelled; no output was written", path)
