"""Errors a user can cause and fix. The CLI prints their message alone, never a traceback."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path


class UserError(Exception):
    """An expected failure: bad input, missing model, unwritable folder, full disk, cancel.

    The message names the file involved and what to do about it.
    """

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)

    def __reduce__(self):  # from a worker process (a soundfont's render) with its path, whatever the subclass takes
        return _rebuilt, (type(self), self.args, self.path)


def _rebuilt(kind: type[UserError], args: tuple, path: Path | None) -> UserError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.path = path
    return error


class BadMediaError(UserError):
    """The input is not a readable video or image."""


class OutputError(UserError):
    """The output cannot be written (exists, unwritable folder, disk full)."""


class Cancelled(UserError):
    """The user cancelled the job; nothing partial is left behind."""

    def __init__(self, path: Path | str | None = None):
        super().__init__("cancelled; no output was written", path)


def is_out_of_memory(exc: BaseException | None) -> bool:
    """MemoryError, or torch's OutOfMemoryError (a GPU's), recognised without importing torch."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


def out_of_memory(exc: BaseException) -> UserError:
    """The message for a job that ran out of memory: models too big for the GPU or the computer."""
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return UserError(f"ran out of memory ({detail}). With the neural backend: a smaller MusicGen (--musicgen-size "
                     "small), --continuity (one segment decoded at a time), or --device cpu when the GPU is the small "
                     "one; close other programs using that memory, or use --backend procedural")


@contextlib.contextmanager
def disk_errors(path: Path):
    """OS errors while writing (full disk, permissions) as one UserError naming the file."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, path) from None


def os_error(exc: OSError, path: Path) -> UserError:
    if exc.errno == errno.ENOSPC:
        return OutputError("the disk is full; free some space and run again with --resume", path)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write here ({exc.strerror}); choose another output folder", exc.filename or path)
    return UserError(f"{exc.strerror or exc}", exc.filename or path)
