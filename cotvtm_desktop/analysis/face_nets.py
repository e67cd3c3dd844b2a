"""MTCNN's three networks (Zhang et al. 2016: P-Net, R-Net, O-Net) as ONNX graphs, built from the Keras weights the
PyPI package `mtcnn` ships (MIT; converted from the authors' Caffe models).

As with EfficientNet (analysis/efficientnet.py), each graph is written out directly with onnx.helper from the
weight arrays: the networks are a few convolutions, so no TensorFlow is needed to run them. The Keras layers are
NHWC; the graphs are NCHW, so the kernels are transposed, and a dense layer's input is flattened in the order
Keras flattens it after the networks' Permute((2, 1, 3)): width, then height, then channels.
"""

from __future__ import annotations

import numpy as np

# Bumped whenever the graphs built from the same weights change, so cached copies are rebuilt.
GRAPH_VERSION = 1
INPUT = "images"  # N x 3 x H x W, RGB scaled as (value - 127.5) / 128
OUTPUTS = {"pnet": ["boxes", "probabilities"], "rnet": ["boxes", "probabilities"],
           "onet": ["boxes", "landmarks", "probabilities"]}
PATCH = {"rnet": 24, "onet": 48}  # the refining networks' square input; P-Net takes any size of at least 12
_OPSET = 17
_IR_VERSION = 8


def onnx_model(net: str, weights: list[np.ndarray]):
    """One of the networks ("pnet", "rnet", "onet") as an onnx.ModelProto, from its Keras weights in layer order."""
    from onnx import TensorProto, helper, numpy_helper

    graph = _Graph(weights)
    if net == "pnet":
        x = graph.conv_prelu(INPUT)
        x = graph.pool(x, 2, same=True)
        x = graph.conv_prelu(graph.conv_prelu(x))
        outputs = [graph.conv(x), graph.node("Softmax", [graph.conv(x)], axis=1)]
        side: int | str = "height"
    else:
        x = graph.pool(graph.conv_prelu(INPUT), 3, same=True)
        x = graph.pool(graph.conv_prelu(x), 3, same=False)
        if net == "onet":
            x = graph.pool(graph.conv_prelu(x), 2, same=True)
        x = graph.conv_prelu(x)
        x = graph.node("Flatten", [graph.node("Transpose", [x], perm=[0, 3, 2, 1])], axis=1)
        x = graph.prelu(graph.dense(x))
        heads = [graph.dense(x) for _ in OUTPUTS[net]]
        outputs = [*heads[:-1], graph.node("Softmax", [heads[-1]], axis=1)]
        side = PATCH[net]
    if graph.taken != len(weights):
        raise ValueError(f"{net}: {len(weights)} weight arrays, the network uses {graph.taken}")
    for made, name in zip(outputs, OUTPUTS[net]):
        graph.nodes.append(helper.make_node("Identity", [made], [name]))
    width = side if isinstance(side, int) else "width"
    body = helper.make_graph(
        graph.nodes, f"mtcnn_{net}",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 3, side, width])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in OUTPUTS[net]],
        [numpy_helper.from_array(array, name) for name, array in graph.constants.items()])
    return helper.make_model(body, opset_imports=[helper.make_opsetid("", _OPSET)], ir_version=_IR_VERSION,
                             producer_name="cotvtm_desktop")


class _Graph:
    """Nodes and initialisers of a graph as it is built, taking the weight arrays in the order the layers use them."""

    def __init__(self, weights: list[np.ndarray]):
        self.weights = weights
        self.taken = 0
        self.nodes: list = []
        self.constants: dict[str, np.ndarray] = {}

    def take(self, transform=lambda array: array) -> str:
        name = f"weight_{self.taken}"
        self.constants[name] = np.ascontiguousarray(transform(self.weights[self.taken]), dtype=np.float32)
        self.taken += 1
        return name

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        from onnx import helper

        output = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def conv(self, x: str) -> str:
        """A Keras Conv2D (valid padding, stride 1): its kernel (kh, kw, in, out) as ONNX's (out, in, kh, kw)."""
        kernel = self.take(lambda k: k.transpose(3, 2, 0, 1))
        return self.node("Conv", [x, kernel, self.take()])

    def prelu(self, x: str) -> str:
        """PReLU: after a convolution its slopes are shared across the picture, one per channel."""
        return self.node("PRelu", [x, self.take(lambda a: a.reshape(-1, 1, 1) if a.ndim == 3 else a)])

    def conv_prelu(self, x: str) -> str:
        return self.prelu(self.conv(x))

    def pool(self, x: str, size: int, same: bool) -> str:
        """Keras MaxPooling2D, stride 2; "same" pads at the end (bottom, right), as SAME_UPPER does."""
        return self.node("MaxPool", [x], kernel_shape=[size, size], strides=[2, 2],
                         auto_pad="SAME_UPPER" if same else "VALID")

    def dense(self, x: str) -> str:
        """A Keras Dense layer: x @ kernel + bias."""
        kernel = self.take()
        return self.node("Gemm", [x, kernel, self.take()])
