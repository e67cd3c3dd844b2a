"""What cotvtm derives once and keeps in the user's cache (config.cache_dir()): ONNX graphs built from shipped weights
on first use (the object model's, analysis/objects.py, and the face detector's, analysis/faces.py), and the faces
found in each photo."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path


def cached_session(cached: Path, build: Callable[[], bytes]):
    """An onnxruntime.InferenceSession of the graph kept at `cached`; when it is missing, or damaged in any way
    onnxruntime rejects, built by `build` and kept there for later runs."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One thread: the object model runs beside decoding (analysis/scan.py), the face detector on a thread per core
    # (media/slideshow.py photo_subjects), and on one core each is as fast as torch was on two. No spinning between
    # calls, which would take another thread's core away.
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(cached.read_bytes(), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - missing or damaged: built again below
        pass
    model = build()
    store(cached, model)
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def store(path: Path, data: bytes) -> None:
    """Keep `data` at `path` for later runs, written atomically (two jobs may make it at once). A cache that cannot
    be written (a read-only home) only means it is made again next time."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
