"""Score every video and image in a folder; one bad file never stops the rest."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.jobs.backends import choose_backend
from cotvtm_desktop.jobs.events import EventSink, no_events
from cotvtm_desktop.jobs.runner import OutputExists, ScoreOptions, default_output, score
from cotvtm_desktop.music.backend import MusicBackend


@dataclass(frozen=True)
class BatchItem:
    input: Path
    output: Path
    status: str  # "done", "skipped" or "failed"
    reason: str = ""


def find_inputs(folder: Path, recursive: bool, exclude: Path | None = None) -> list[Path]:
    """Videos and images under `folder`, in name order, leaving out our own outputs and work folders."""
    pattern = "**/*" if recursive else "*"
    extensions = config.VIDEO_EXTENSIONS + config.IMAGE_EXTENSIONS
    found = []
    for path in sorted(folder.glob(pattern)):
        if not path.is_file() or path.suffix.lower() not in extensions:
            continue
        if config.OUTPUT_SUFFIX + "." in path.name or config.WORK_DIR_NAME in path.parts:
            continue
        if exclude is not None and exclude.resolve() in path.resolve().parents:
            continue
        found.append(path)
    return found


def run_batch(folder: Path, out_dir: Path, options: ScoreOptions, recursive: bool = False,
              events: EventSink = no_events, cancel: threading.Event | None = None,
              backend: tuple[MusicBackend, str] | None = None) -> list[BatchItem]:
    if not folder.is_dir():
        raise UserError("is not a folder", folder)
    backend = backend or choose_backend(options)  # models load once for the whole folder
    inputs = find_inputs(folder, recursive, exclude=out_dir if out_dir.resolve() != folder.resolve() else None)
    events({"type": "batch_started", "input": str(folder), "count": len(inputs)})
    results = []
    for number, path in enumerate(inputs, 1):
        output = default_output(path, out_dir / path.parent.relative_to(folder))
        events({"type": "batch_item", "input": str(path), "number": number, "count": len(inputs)})
        try:
            score(path, output, options, events, cancel, backend)
            results.append(BatchItem(path, output, "done"))
        except OutputExists as exc:
            results.append(BatchItem(path, output, "skipped", "output exists (use --overwrite to replace it)"))
            events({"type": "file_skipped", "input": str(path), "output": str(output), "reason": str(exc)})
        except UserError as exc:
            if cancel is not None and cancel.is_set():
                raise
            results.append(BatchItem(path, output, "failed", str(exc)))
            events({"type": "error", "input": str(path), "message": str(exc)})
    events({"type": "batch_done", "input": str(folder), "done": sum(r.status == "done" for r in results),
            "skipped": sum(r.status == "skipped" for r in results),
            "failed": sum(r.status == "failed" for r in results)})
    return results
