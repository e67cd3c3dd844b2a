"""Progress events. Every job reports through one `emit(event)` call; the CLI turns them into progress bars or,
with --json-progress, into one JSON object per line for the GUI and editor plugins.

Event types: job_started (with "slideshow": its number of photos and videos, for a slideshow), stage (analysing /
rendering / mixing / writing), progress (fraction of the analysis), segment_done (index, count, cached,
description), file_done, file_skipped, error (message); in a batch (and `score` given several files) also
batch_started, batch_item and batch_done (done / skipped / failed counts); project_done after `cotvtm project
score`; cancelled when the job was stopped. Every event carries "type" and "input". In a batch a file finishes while
the next one starts, so one file's mixing, writing and file_done events can come after the next file's job_started.

A parent process cancels by writing the line `cancel` to the child's stdin (works the same on every OS): the job
stops within a segment, leaves no partial output, emits `cancelled` and exits with status 130.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import Protocol, TextIO


class EventSink(Protocol):
    def __call__(self, event: dict) -> None: ...


def no_events(event: dict) -> None:
    return None


@dataclass(frozen=True)
class ProgressShares:
    """The share of a job's progress bar each stage fills (the analysis, the music, a made picture), before mixing
    and writing fill the rest."""

    analysis: float
    music: float
    picture: float


def progress_shares(slideshow: bool) -> ProgressShares:
    """A slideshow's full-size picture takes most of its time (job_started says "slideshow"); an edit's small one
    and a video's copied one take little."""
    return ProgressShares(0.04, 0.08, 0.85) if slideshow else ProgressShares(0.3, 0.6, 0.08)


class JsonLines:
    """Writes each event as one line of JSON and flushes, so a parent process sees it at once."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream  # None: whatever sys.stdout is when an event comes
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(json.dumps(event, ensure_ascii=False) + "\n")
            stream.flush()


def listen_for_cancel(stream: TextIO | None = None) -> threading.Event:
    """An event set once the line `cancel` arrives on `stream` (stdin by default); read on a daemon thread, so a
    closed or absent stdin simply never cancels."""
    cancel = threading.Event()

    def listen() -> None:
        try:
            for line in stream or sys.stdin:
                if line.strip() == "cancel":
                    cancel.set()
                    return
        except (OSError, ValueError):  # no stdin, or closed under us
            return

    threading.Thread(target=listen, name="cancel-listener", daemon=True).start()
    return cancel
