"""EfficientNet-Lite0 as an ONNX graph, built from the state dict of RangiLyu/EfficientNet-Lite (its module names).

The graph is written out directly (onnx.helper) rather than exported from a torch module: the architecture is a
fixed stack of convolutions, the supported torch exporter takes ~10 s for it and rewrites it through a version
converter that fails on this model, and the older one is deprecated. Batch norms are folded into the convolutions
before them, and the softmax is part of the graph, so the output is class probabilities.
"""

from __future__ import annotations

import numpy as np

# Bumped whenever the graph built from the same weights changes, so cached copies are rebuilt.
GRAPH_VERSION = 1
INPUT, OUTPUT = "images", "probabilities"  # N x 3 x 224 x 224 in [-1, 1] -> N x 1000
_OPSET = 17
_IR_VERSION = 8  # the IR of opset 17: a runtime reads older IRs, not necessarily newer ones

# (expand ratio, kernel, stride, in, out, repeats) of EfficientNet-Lite0: B0 without squeeze-excite, ReLU6.
_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
           (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
_BN_EPS = 1e-3


def onnx_model(state: dict[str, np.ndarray]):
    """The classifier (an onnx.ModelProto) from the model's state dict as float32 arrays."""
    from onnx import TensorProto, helper, numpy_helper

    graph = _GraphBuilder(state)
    x = graph.conv(INPUT, "_conv_stem", "_bn0", stride=2, relu6=True)
    block = 0
    for expand, kernel, stride, c_in, c_out, repeats in _STAGES:
        for r in range(repeats):
            x = graph.mbconv(x, f"_blocks.{block}", expand != 1, stride if r == 0 else 1,
                             residual=r > 0 or (stride == 1 and c_in == c_out))
            block += 1
    x = graph.conv(x, "_conv_head", "_bn1", stride=1, relu6=True)
    pooled = graph.node("GlobalAveragePool", [x])
    flat = graph.node("Flatten", [pooled], axis=1)
    logits = graph.node("Gemm", [flat, graph.constant("_fc.weight", state["_fc.weight"]),
                                 graph.constant("_fc.bias", state["_fc.bias"])], transB=1)
    graph.nodes.append(helper.make_node("Softmax", [logits], [OUTPUT], axis=1))
    body = helper.make_graph(
        graph.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 1000])],
        [numpy_helper.from_array(array, name) for name, array in graph.constants.items()])
    return helper.make_model(body, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION,
                             producer_name="cotvtm_desktop")


class _GraphBuilder:
    """Nodes and initialisers of the graph as it is built; names of intermediate values are generated."""

    def __init__(self, state: dict[str, np.ndarray]):
        self.state = state
        self.nodes: list = []
        self.constants: dict[str, np.ndarray] = {"relu6.low": np.array(0, np.float32),
                                                 "relu6.high": np.array(6, np.float32)}

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        from onnx import helper

        output = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def constant(self, name: str, array: np.ndarray) -> str:
        self.constants[name] = np.ascontiguousarray(array, dtype=np.float32)
        return name

    def conv(self, x: str, conv: str, norm: str, stride: int, relu6: bool, groups: int = 1) -> str:
        weight, bias = _folded(self.state[f"{conv}.weight"], *(self.state[f"{norm}.{k}"] for k in
                                                               ("weight", "bias", "running_mean", "running_var")))
        kernel = weight.shape[-1]
        pad = (kernel - 1) // 2
        y = self.node("Conv", [x, self.constant(f"{conv}.weight", weight), self.constant(f"{conv}.bias", bias)],
                      kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4, group=groups)
        return self.node("Clip", [y, "relu6.low", "relu6.high"]) if relu6 else y

    def mbconv(self, x: str, name: str, expand: bool, stride: int, residual: bool) -> str:
        """Inverted bottleneck: 1x1 expansion (not in the first stage), depthwise convolution, 1x1 projection."""
        y = self.conv(x, f"{name}._expand_conv", f"{name}._bn0", 1, relu6=True) if expand else x
        channels = self.state[f"{name}._depthwise_conv.weight"].shape[0]
        y = self.conv(y, f"{name}._depthwise_conv", f"{name}._bn1", stride, relu6=True, groups=channels)
        y = self.conv(y, f"{name}._project_conv", f"{name}._bn2", 1, relu6=False)
        return self.node("Add", [x, y]) if residual else y


def _folded(weight: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """A convolution followed by an inference-mode batch norm, as one convolution with a bias."""
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + _BN_EPS)
    return (weight * scale[:, None, None, None]).astype(np.float32), (beta - mean * scale).astype(np.float32)
