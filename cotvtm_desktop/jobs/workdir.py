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
        return self.path / f"segment-{index:04d}-{key}.flac"

    def has_segment(self, index: int, key: str) -> bool:
        return self.segment_file(index, key).exists()

    def load_segment(self, index: int, key: str) -> np.ndarray | None:
        path = self.segment_file(index, key)
        if not path.exists():
            return None
        with soundfile.SoundFile(path) as file:
            steps = file.read(dtype="int32", always_2d=True) >> 8  # libsndfile gives 24-bit samples in the top bits
            return _from_steps(steps, _stored_scale(file.comment))

    def save_segment(self, index: int, key: str, audio: np.ndarray, rate: int) -> None:
        """Keep a segment's audio as `stored_audio(audio)`, which is what `load_segment` gives back."""
        path = self.segment_file(index, key)
        for stale in self.path.glob(f"segment-{index:04d}-*"):
            stale.unlink()
        steps, scale = _to_steps(audio)

        def write(tmp: Path) -> None:
            with soundfile.SoundFile(tmp, "w", rate, steps.shape[1], "PCM_24", format="FLAC") as file:
                file.comment = f"{_SCALE_COMMENT}{scale}"
                file.write(steps << 8)

        _atomic(path, write)

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


# Segment audio is kept as 24-bit FLAC: within 2^-24 of full scale of the music as rendered (a −144 dBFS
# difference, far under any playback's noise), in 0.43 of 32-bit float WAV's bytes, encoded in about 30 ms per
# 10 s segment (benchmarks/work_files.py). The rendering job mixes the very samples it keeps (`stored_audio`), so
# a result made from the work folder (--resume, an edit's re-render) equals one made afresh, bit for bit. Music
# over full scale (MusicGen's decoder can overshoot) is kept scaled down by a power of two, exact in float; the
# file's comment says by how much.
_FULL_SCALE = 2 ** 23  # 24-bit steps per unit of float audio
_SCALE_COMMENT = "cotvtm segment scale "


def stored_audio(audio: np.ndarray) -> np.ndarray:
    """`audio` as a segment's file keeps it (float32, (samples, channels))."""
    return _from_steps(*_to_steps(audio))


def _to_steps(audio: np.ndarray) -> tuple[np.ndarray, int]:
    audio = np.asarray(audio, np.float32).reshape(len(audio), -1)
    peak = float(np.max(np.abs(audio), initial=0.0))
    scale = 1
    while peak / scale > (_FULL_SCALE - 1) / _FULL_SCALE:
        scale *= 2
    steps = np.rint(audio * np.float32(_FULL_SCALE / scale))
    return np.clip(steps, -_FULL_SCALE, _FULL_SCALE - 1).astype(np.int32), scale


def _from_steps(steps: np.ndarray, scale: int) -> np.ndarray:
    return steps.astype(np.float32) * np.float32(scale / _FULL_SCALE)


def _stored_scale(comment: str) -> int:
    return int(comment[len(_SCALE_COMMENT):]) if comment.startswith(_SCALE_COMMENT) else 1


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
