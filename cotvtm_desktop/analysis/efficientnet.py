"""EfficientNet-Lite0, mirroring the module names of RangiLyu/EfficientNet-Lite so its state dict loads strictly."""

from __future__ import annotations

import torch
from torch import nn

# (expand ratio, kernel, stride, in, out, repeats) of EfficientNet-Lite0: B0 without squeeze-excite, ReLU6.
_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
           (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
_BN = dict(momentum=0.01, eps=1e-3)


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
        y = _relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = _relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y

    def fold_batch_norms(self) -> None:
        if self.expand:
            self._expand_conv, self._bn0 = _folded(self._expand_conv, self._bn0)
        self._depthwise_conv, self._bn1 = _folded(self._depthwise_conv, self._bn1)
        self._project_conv, self._bn2 = _folded(self._project_conv, self._bn2)


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
        x = _relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = _relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))

    def fold_batch_norms(self) -> "EfficientNetLite0":
        """For inference (after the weights are loaded): each batch norm folded into the convolution before it,
        which saves a pass over every activation (about a fifth of the model's time on a CPU)."""
        self.eval()
        self._conv_stem, self._bn0 = _folded(self._conv_stem, self._bn0)
        self._conv_head, self._bn1 = _folded(self._conv_head, self._bn1)
        for block in self._blocks:
            block.fold_batch_norms()
        return self


def _folded(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[nn.Conv2d, nn.Module]:
    return nn.utils.fusion.fuse_conv_bn_eval(conv, norm), nn.Identity()


def _relu6(x: torch.Tensor) -> torch.Tensor:
    # in place under inference (no autograd graph to keep the input for), a copy of the activation saved
    return nn.functional.relu6(x, inplace=torch.is_inference_mode_enabled())
