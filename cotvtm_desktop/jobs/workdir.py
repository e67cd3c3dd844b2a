"""The per-output work folder: cached analysis and segment audio that `--resume` picks up after a kill."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile

from cotvtm_desktop import config


class WorkDir:
    def __init__(self, output: Path, path: Path | None = None):
        self.path = path or output.parent / config.WORK_DIR_NAME / output.name

    def prepare(self, resume: bool) -> None:
        if not resume and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.path.parent.rmdir()  # the shared .cotvtm-work folder, once empty
        except OSError:
            pass

    # segment audio ----------------------------------------------------------------------------------------------
    def segment_file(self, index: int, key: str) -> Path:
        return self.path / f"segment-{index:04d}-{key}.wav"

    def has_segment(self, index: int, key: str) -> bool:
        return self.segment_file(index, key).exists()

    def load_segment(self, index: int, key: str) -> np.ndarray | None:
        path = self.segment_file(index, key)
        if not path.exists():
            return None
        audio, _ = soundfile.read(path, dtype="float32", always_2d=True)
        return audio

    def save_segment(self, index: int, key: str, audio: np.ndarray, rate: int) -> None:
        path = self.segment_file(index, key)
        for stale in self.path.glob(f"segment-{index:04d}-*.wav"):
            stale.unlink()
        _atomic(path, lambda tmp: soundfile.write(tmp, audio, rate, subtype="FLOAT", format="WAV"))

    # analysis ---------------------------------------------------------------------------------------------------
    def analysis_file(self, key: str) -> Path:
        return self.path / f"analysis-{key}.npz"

    def load_arrays(self, key: str) -> dict | None:
        path = self.analysis_file(key)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def save_arrays(self, key: str, arrays: dict) -> None:
        path = self.analysis_file(key)
        _atomic(path, lambda tmp: np.savez(tmp, **arrays))

    def keep_only_arrays(self, keys: set[str]) -> None:
        for path in set(self.path.glob("analysis-*.npz")) - {self.analysis_file(key) for key in keys}:
            path.unlink(missing_ok=True)


def input_fingerprint(path: Path, *settings) -> str:
    """Identifies an input file's content version (path, size, mtime) plus the settings that shape a result."""
    stat = path.stat()
    return cache_key(str(path.resolve()), stat.st_size, stat.st_mtime_ns, *settings)


def cache_key(*parts) -> str:
    """A short name for what a cached result was made from (JSON-able parts)."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
