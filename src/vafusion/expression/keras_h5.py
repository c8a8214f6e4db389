"""Rebuild a Keras 2 functional CNN from its HDF5 file in PyTorch, without TensorFlow.

A Keras ``.hdf5`` model keeps its architecture as JSON in the ``model_config`` attribute and
its weights under ``model_weights/<layer>/<layer>_1/<name>:0``. :func:`read_keras_h5` reads
both with h5py; :class:`KerasGraph` executes the layer graph with PyTorch operators.

Layout conversions (Keras is channels-last, PyTorch channels-first)
    * ``Conv2D`` kernels are HWIO ``(kh, kw, in, out)`` -> OIHW ``permute(3, 2, 0, 1)``.
    * ``SeparableConv2D`` depthwise kernels are ``(kh, kw, in, m)`` -> ``(in*m, 1, kh, kw)``
      (``permute(2, 3, 0, 1)`` then reshape), pointwise kernels as ``Conv2D``.
    * ``Dense`` kernels are ``(in, out)`` -> transposed.
    * ``BatchNormalization`` uses the epsilon of the config (Keras: 1e-3), not PyTorch's
      1e-5, and is folded into the preceding convolution when that is exact (see
      :meth:`KerasGraph.fold_batchnorm`).

Padding
    TensorFlow's ``'same'`` padding puts the extra pixel at the bottom/right when the total
    padding is odd (e.g. a 3x3 stride-2 max-pool on a 60x60 map pads 0 on top, 1 at the
    bottom). Max-pools pad with ``-inf``, convolutions with zeros. PyTorch's symmetric
    ``padding=1`` gives the same output shape but different (wrong) values, so the padding is
    computed per call from the input size, exactly as TensorFlow does.

Layers without weights (``InputLayer``, ``Activation``, ``Add``, pooling) have empty weight
groups in the file and are skipped when loading weights.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vafusion.errors import ModelError

#: Keras layer classes this converter understands.
SUPPORTED_LAYERS = frozenset(
    {
        "InputLayer",
        "Conv2D",
        "SeparableConv2D",
        "DepthwiseConv2D",
        "BatchNormalization",
        "Activation",
        "ReLU",
        "MaxPooling2D",
        "AveragePooling2D",
        "Add",
        "GlobalAveragePooling2D",
        "Dropout",
        "Dense",
    }
)


@dataclass
class KerasLayer:
    """One layer of a Keras functional model as read from the HDF5 file.

    Attributes
    ----------
    name : str
    class_name : str
        Keras layer class (``"Conv2D"``, ...).
    config : dict
        The layer's Keras config.
    inputs : list of str
        Names of the layers feeding this one.
    weights : dict of str to numpy.ndarray
        Weight arrays keyed by their short Keras name (``kernel``, ``bias``,
        ``depthwise_kernel``, ``gamma``, ``moving_mean`` ...), in Keras layout.
    """

    name: str
    class_name: str
    config: dict[str, Any]
    inputs: list[str]
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def read_keras_h5(path: str | os.PathLike) -> tuple[list[KerasLayer], dict[str, Any]]:
    """Read the architecture and weights of a Keras 2 functional model with h5py.

    Parameters
    ----------
    path : str or PathLike
        A Keras ``.h5``/``.hdf5`` file saved with ``model.save`` (architecture + weights).

    Returns
    -------
    layers : list of KerasLayer
        In the order of the model config.
    info : dict
        ``input_layers``, ``output_layers`` (names), ``keras_version``, ``backend``.

    Raises
    ------
    ModelError
        If the file is missing, not HDF5, or has no model config.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found", path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(f"not a readable HDF5 file ({exc})", path) from None
    with fh:
        raw = fh.attrs.get("model_config")
        if raw is None:
            raise ModelError("no 'model_config' attribute: weights-only file?", path)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        config = json.loads(raw)
        if config.get("class_name") not in ("Model", "Functional"):
            raise ModelError(f"unsupported Keras model class {config.get('class_name')!r}", path)
        group = fh.get("model_weights", fh)
        layers: list[KerasLayer] = []
        for spec in config["config"]["layers"]:
            name = spec["name"]
            inbound = spec.get("inbound_nodes") or []
            if len(inbound) > 1:
                raise ModelError(f"layer {name!r} is shared (called more than once)", path)
            inputs = [node[0] for node in inbound[0]] if inbound else []
            weights: dict[str, np.ndarray] = {}
            if name in group:
                names = group[name].attrs.get("weight_names", [])
                for wname in names:
                    wname = wname.decode() if isinstance(wname, bytes) else str(wname)
                    short = wname.rsplit("/", 1)[-1].split(":", 1)[0]
                    weights[short] = np.asarray(group[name][wname], dtype=np.float32)
            layers.append(KerasLayer(name, spec["class_name"], spec["config"], inputs, weights))
        info = {
            "input_layers": [x[0] for x in config["config"].get("input_layers", [])],
            "output_layers": [x[0] for x in config["config"].get("output_layers", [])],
            "keras_version": _attr_str(fh.attrs.get("keras_version")),
            "backend": _attr_str(fh.attrs.get("backend")),
        }
    return layers, info


def _attr_str(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow ``'same'`` padding of one spatial axis: ``(before, after)``.

    The output size is ``ceil(size / stride)``; an odd total padding puts the extra
    pixel *after* (bottom/right).
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))


class _Op(nn.Module):
    """One converted layer: ``forward(*inputs) -> Tensor`` on NCHW tensors."""

    def __init__(self, layer: KerasLayer) -> None:
        super().__init__()
        self.keras_name = layer.name
        self.keras_class = layer.class_name


class _Conv(_Op):
    """Conv2D / DepthwiseConv2D / SeparableConv2D (depthwise then pointwise)."""

    def __init__(self, layer: KerasLayer) -> None:
        super().__init__(layer)
        c = layer.config
        if c.get("data_format", "channels_last") != "channels_last":
            raise ModelError(f"layer {layer.name!r}: only channels_last models are supported")
        self.kernel = _pair(c["kernel_size"])
        self.stride = _pair(c.get("strides", 1))
        self.dilation = _pair(c.get("dilation_rate", 1))
        self.padding_mode = c.get("padding", "valid")
        if self.padding_mode not in ("same", "valid"):
            raise ModelError(f"layer {layer.name!r}: padding {self.padding_mode!r} unsupported")
        self.activation = c.get("activation", "linear")
        w = layer.weights
        depthwise = pointwise = None
        if layer.class_name == "Conv2D":
            pointwise = torch.from_numpy(w["kernel"]).permute(3, 2, 0, 1).contiguous()
        else:
            dk = torch.from_numpy(w["depthwise_kernel"])  # (kh, kw, in, m)
            kh, kw, cin, mult = dk.shape
            depthwise = dk.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw).contiguous()
            if layer.class_name == "SeparableConv2D":
                pointwise = torch.from_numpy(w["pointwise_kernel"]).permute(3, 2, 0, 1)
                pointwise = pointwise.contiguous()
        self.depthwise = None if depthwise is None else nn.Parameter(depthwise, False)
        self.weight = None if pointwise is None else nn.Parameter(pointwise, False)
        bias = w.get("bias") if c.get("use_bias", True) else None
        # with a depthwise conv only, the bias belongs to it; else to the pointwise conv
        self.bias = None if bias is None else nn.Parameter(torch.from_numpy(bias), False)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.padding_mode == "valid":
            return x, (0, 0)
        ph = same_padding(int(x.shape[-2]), self.kernel[0], self.stride[0], self.dilation[0])
        pw = same_padding(int(x.shape[-1]), self.kernel[1], self.stride[1], self.dilation[1])
        if ph[0] == ph[1] and pw[0] == pw[1]:
            return x, (ph[0], pw[0])
        return F.pad(x, (pw[0], pw[1], ph[0], ph[1])), (0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, pad = self._pad(x)
        if self.depthwise is not None:
            only_dw = self.weight is None
            x = F.conv2d(
                x,
                self.depthwise,
                self.bias if only_dw else None,
                self.stride,
                pad,
                self.dilation,
                groups=x.shape[1],
            )
            if not only_dw:
                x = F.conv2d(x, self.weight, self.bias)
        else:
            x = F.conv2d(x, self.weight, self.bias, self.stride, pad, self.dilation)
        return _activate(x, self.activation, self.keras_name)

    def fold(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        """Fold a following per-channel affine ``y = x * scale + shift`` into this conv."""
        if self.activation not in ("linear", None):
            raise ModelError(f"cannot fold batchnorm after activation in {self.keras_name!r}")
        if self.weight is not None:
            self.weight.data = self.weight.data * scale.view(-1, 1, 1, 1)
        else:
            self.depthwise.data = self.depthwise.data * scale.view(-1, 1, 1, 1)
        bias = shift if self.bias is None else self.bias.data * scale + shift
        self.bias = nn.Parameter(bias.contiguous(), False)


class _BatchNorm(_Op):
    def __init__(self, layer: KerasLayer) -> None:
        super().__init__(layer)
        c, w = layer.config, layer.weights
        axis = c.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if axis not in (-1, 3):
            raise ModelError(f"layer {layer.name!r}: batchnorm axis {axis} unsupported")
        eps = float(c.get("epsilon", 1e-3))
        mean = torch.from_numpy(w["moving_mean"]).double()
        var = torch.from_numpy(w["moving_variance"]).double()
        gamma = torch.from_numpy(w["gamma"]).double() if "gamma" in w else torch.ones_like(mean)
        beta = torch.from_numpy(w["beta"]).double() if "beta" in w else torch.zeros_like(mean)
        scale = gamma / torch.sqrt(var + eps)
        self.scale = nn.Parameter(scale.float(), False)
        self.shift = nn.Parameter((beta - mean * scale).float(), False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.scale.view(shape) + self.shift.view(shape)


class _Identity(_Op):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _Activation(_Op):
    def __init__(self, layer: KerasLayer) -> None:
        super().__init__(layer)
        self.activation = "relu" if layer.class_name == "ReLU" else layer.config["activation"]
        _activate(torch.zeros(1, 1), self.activation, layer.name)  # validate now

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _activate(x, self.activation, self.keras_name)


def _activate(x: torch.Tensor, name: str | None, layer: str) -> torch.Tensor:
    if name in ("linear", None):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "softmax":  # Keras: over the last (channel) axis -> dim 1 in NCHW / (N, C)
        return F.softmax(x, dim=1)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    raise ModelError(f"layer {layer!r}: activation {name!r} unsupported")


class _Pool(_Op):
    def __init__(self, layer: KerasLayer) -> None:
        super().__init__(layer)
        c = layer.config
        self.kernel = _pair(c.get("pool_size", 2))
        self.stride = _pair(c.get("strides") or self.kernel)
        self.padding_mode = c.get("padding", "valid")
        self.is_max = layer.class_name == "MaxPooling2D"
        if not self.is_max and self.padding_mode == "same":
            raise ModelError(f"layer {layer.name!r}: 'same' average pooling unsupported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_max:
            return F.avg_pool2d(x, self.kernel, self.stride)
        pad = (0, 0)
        if self.padding_mode == "same":
            ph = same_padding(int(x.shape[-2]), self.kernel[0], self.stride[0])
            pw = same_padding(int(x.shape[-1]), self.kernel[1], self.stride[1])
            if ph[0] == ph[1] and pw[0] == pw[1]:
                pad = (ph[0], pw[0])  # PyTorch pads max-pools with -inf too
            else:
                x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride, pad)


class _Add(_Op):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class _GlobalAvgPool(_Op):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class _Dense(_Op):
    def __init__(self, layer: KerasLayer) -> None:
        super().__init__(layer)
        w = layer.weights
        self.weight = nn.Parameter(torch.from_numpy(w["kernel"]).t().contiguous(), False)
        use_bias = layer.config.get("use_bias", True)
        self.bias = nn.Parameter(torch.from_numpy(w["bias"]), False) if use_bias else None
        self.activation = layer.config.get("activation", "linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ModelError(f"layer {self.keras_name!r}: Dense on a 4-D map (no Flatten) ")
        return _activate(F.linear(x, self.weight, self.bias), self.activation, self.keras_name)


def _make_op(layer: KerasLayer) -> _Op:
    cls = layer.class_name
    if cls not in SUPPORTED_LAYERS:
        raise ModelError(f"Keras layer {layer.name!r} of class {cls!r} is not supported")
    try:
        if cls in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
            return _Conv(layer)
        if cls == "BatchNormalization":
            return _BatchNorm(layer)
        if cls in ("Activation", "ReLU"):
            return _Activation(layer)
        if cls in ("MaxPooling2D", "AveragePooling2D"):
            return _Pool(layer)
        if cls == "Add":
            return _Add(layer)
        if cls == "GlobalAveragePooling2D":
            return _GlobalAvgPool(layer)
        if cls == "Dense":
            return _Dense(layer)
    except KeyError as exc:
        raise ModelError(f"layer {layer.name!r}: weight {exc} missing in the file") from None
    return _Identity(layer)  # InputLayer, Dropout


class KerasGraph(nn.Module):
    """A Keras functional model executed with PyTorch operators (NCHW tensors).

    Parameters
    ----------
    layers : list of KerasLayer
        From :func:`read_keras_h5`.
    outputs : sequence of str
        Names of the layers whose outputs :meth:`forward` returns, in that order.

    Notes
    -----
    ``forward(x)`` takes ``x`` of shape (N, C, H, W) float32 (the Keras input transposed from
    NHWC) and returns a tuple of tensors, one per requested output.
    """

    def __init__(self, layers: list[KerasLayer], outputs: list[str]) -> None:
        super().__init__()
        by_name = {layer.name: layer for layer in layers}
        missing = [o for o in outputs if o not in by_name]
        if missing:
            raise ModelError(f"no layer named {', '.join(missing)} in the model")
        self.order = _topological_order(layers)
        self.inputs_of = {layer.name: list(layer.inputs) for layer in layers}
        self.ops = nn.ModuleDict({name: _make_op(by_name[name]) for name in self.order})
        self.input_names = [n for n in self.order if not self.inputs_of[n]]
        if len(self.input_names) != 1:
            raise ModelError(f"expected one input layer, found {self.input_names}")
        self.output_names = list(outputs)
        # keep only what the requested outputs need
        needed: set[str] = set()
        stack = list(outputs)
        while stack:
            n = stack.pop()
            if n not in needed:
                needed.add(n)
                stack.extend(self.inputs_of[n])
        self.order = [n for n in self.order if n in needed]
        self._alias: dict[str, str] = {}

    def fold_batchnorm(self) -> int:
        """Fold each BatchNormalization into the convolution feeding only it.

        Exact up to float rounding: ``BN(conv(x)) = conv'(x)`` with scaled weights and a
        bias. Returns the number of folded layers.
        """
        users: dict[str, int] = {}
        for n in self.order:
            for i in self.inputs_of[n]:
                users[i] = users.get(i, 0) + 1
        folded = 0
        for n in self.order:
            op = self.ops[n]
            if not isinstance(op, _BatchNorm) or len(self.inputs_of[n]) != 1:
                continue
            src = self.inputs_of[n][0]
            conv = self.ops[src] if src in self.ops else None  # noqa: SIM401
            if (
                isinstance(conv, _Conv)
                and users.get(src) == 1
                and src not in self.output_names
                and conv.activation in ("linear", None)
            ):
                conv.fold(op.scale.data, op.shift.data)
                self._alias[n] = src
                folded += 1
        return folded

    def walk(self, inputs: dict[str, Any], apply: Callable[[str, list], Any]) -> dict[str, Any]:
        """Visit the layers in topological order: ``values[n] = apply(n, input values)``.

        ``inputs`` seeds the graph inputs; folded layers reuse their source's value. Used
        both to run the network (torch ops) and to translate it (ONNX nodes).
        """
        values = dict(inputs)
        for n in self.order:
            if n in values:
                continue
            if n in self._alias:
                values[n] = values[self._alias[n]]
                continue
            values[n] = apply(n, [values[i] for i in self.inputs_of[n]])
        return values

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = self.walk({self.input_names[0]: x}, lambda n, args: self.ops[n](*args))
        return tuple(values[o] for o in self.output_names)


def _topological_order(layers: list[KerasLayer]) -> list[str]:
    names = {layer.name for layer in layers}
    for layer in layers:
        for i in layer.inputs:
            if i not in names:
                raise ModelError(f"layer {layer.name!r} reads unknown layer {i!r}")
    done: list[str] = []
    seen: set[str] = set()
    pending = list(layers)
    while pending:
        rest = []
        for layer in pending:
            if all(i in seen for i in layer.inputs):
                done.append(layer.name)
                seen.add(layer.name)
            else:
                rest.append(layer)
        if len(rest) == len(pending):
            raise ModelError("the Keras layer graph has a cycle")
        pending = rest
    return done
