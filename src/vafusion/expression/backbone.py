"""The :class:`ExpressionBackbone` interface, its input options and the backbone registry.

A backbone maps aligned face crops to an embedding (and optionally class probabilities).
Backbones are named by a spec string:

``minixception``
    The built-in FER2013 mini-Xception (:mod:`vafusion.expression.minixception`).
``minixception:/path/weights.pt``
    The same architecture with fine-tuned weights (a state dict, loaded with
    ``torch.load(weights_only=True)``) or another Keras ``.hdf5`` of the same family.
``onnx:/path/model.onnx``
    Any ONNX model run by ONNX Runtime (:mod:`vafusion.expression.onnx_backbone`).
``torchscript:/path/model.pt``
    Any TorchScript module (:mod:`vafusion.expression.torchscript_backbone`).

New kinds register with :func:`register_backbone`. :meth:`ExpressionBackbone.identity`
(kind, resolved path, file sha256, options) enters the expression extractor's config hash,
so features of different backbones are never mixed in a feature store.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from vafusion.errors import ConfigError, ModelError

#: kind -> factory(path or None, options dict, num_threads) -> ExpressionBackbone
_REGISTRY: dict[str, Callable[[str | None, dict[str, Any], int], ExpressionBackbone]] = {}
#: kind -> "module:function" registered lazily (their modules import heavy packages).
_LAZY: dict[str, str] = {
    "minixception": "vafusion.expression.minixception_backbone:make_minixception",
    "onnx": "vafusion.expression.onnx_backbone:make_onnx",
    "torchscript": "vafusion.expression.torchscript_backbone:make_torchscript",
}


@dataclass(frozen=True)
class InputOptions:
    """How face crops are turned into a backbone's input tensor.

    ``x = (pixel / 255 - mean) / std`` per channel, after resizing and colour conversion.

    Attributes
    ----------
    input_size : tuple of int
        ``(height, width)`` of the network input.
    color : {"rgb", "bgr", "gray"}
        Channel order (``gray``: one channel, ITU-R 601 luma).
    mean, std : tuple of float
        Per-channel normalisation on the [0, 1] scale (one value: every channel).
    layout : {"nchw", "nhwc"}
        Tensor layout the model expects.
    output : str
        Name of the embedding output (ONNX output name; for TorchScript the index
        ``"0"``, ``"1"`` ... of a tuple output or a dict key). Empty: the first output.
    probs_output : str
        Name/index of a class-score output to report as ``emo_*`` columns; empty: none.
    softmax : bool
        Apply a softmax to ``probs_output`` (when the model gives logits).
    classes : tuple of str
        Class names of ``probs_output`` (columns ``emo_<name>``); default
        ``class_0, class_1, ...``.
    """

    input_size: tuple[int, int] = (112, 112)
    color: str = "rgb"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "nchw"
    output: str = ""
    probs_output: str = ""
    softmax: bool = False
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        h, w = self.input_size
        if h < 8 or w < 8:
            raise ConfigError(f"backbone input_size must be at least 8x8, got {h}x{w}")
        if self.color not in ("rgb", "bgr", "gray"):
            raise ConfigError(f"backbone color must be rgb, bgr or gray, got {self.color!r}")
        if self.layout not in ("nchw", "nhwc"):
            raise ConfigError(f"backbone layout must be nchw or nhwc, got {self.layout!r}")
        n = 1 if self.color == "gray" else 3
        for key in ("mean", "std"):
            v = getattr(self, key)
            if len(v) not in (1, n):
                raise ConfigError(f"backbone {key} needs 1 or {n} values, got {len(v)}")
        if any(s == 0 for s in self.std):
            raise ConfigError("backbone std must not be 0")

    @property
    def channels(self) -> int:
        """Number of input channels (1 for gray, else 3)."""
        return 1 if self.color == "gray" else 3

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _split_floats(value: Any, key: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        return (float(value),)
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"backbone option {key}: expected numbers, got {value!r}") from None


def parse_options(options: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """Normalise backbone options given as a mapping or as ``"key=value"`` strings."""
    if options is None:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    out: dict[str, Any] = {}
    for item in options:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"backbone option {item!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def input_options_from(options: Mapping[str, Any]) -> InputOptions:
    """Build :class:`InputOptions` from user options (strings accepted everywhere).

    ``input_size`` may be ``224``, ``"224"`` or ``"224x192"`` (height x width); ``mean``,
    ``std`` and ``classes`` may be comma-separated strings; ``softmax`` true/false/1/0.
    Unknown keys raise :class:`~vafusion.errors.ConfigError`.
    """
    known = {f.name for f in fields(InputOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"unknown backbone option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    kw: dict[str, Any] = {}
    for key, value in options.items():
        if key == "input_size":
            if isinstance(value, (list, tuple)):
                size = tuple(int(v) for v in value)
            else:
                parts = str(value).lower().replace(",", "x").split("x")
                try:
                    size = tuple(int(p) for p in parts)
                except ValueError:
                    raise ConfigError(f"backbone input_size: bad value {value!r}") from None
            kw[key] = (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
        elif key in ("mean", "std"):
            kw[key] = _split_floats(value, key)
        elif key == "classes":
            items = value.split(",") if isinstance(value, str) else list(value)
            kw[key] = tuple(str(v).strip() for v in items if str(v).strip())
        elif key == "softmax":
            kw[key] = str(value).lower() in ("1", "true", "yes", "on")
        elif key in ("color", "layout"):
            kw[key] = str(value).lower()
        else:
            kw[key] = str(value)
    return InputOptions(**kw)


def prepare_input(crops: np.ndarray, opts: InputOptions) -> np.ndarray:
    """Resize, colour-convert and normalise face crops for a backbone.

    Parameters
    ----------
    crops : numpy.ndarray, shape (N, S, S, 3), uint8
        RGB face crops (the aligned crops of the face pipeline).
    opts : InputOptions

    Returns
    -------
    numpy.ndarray, float32
        Shape (N, C, H, W) for ``layout="nchw"``, (N, H, W, C) for ``"nhwc"``.
    """
    import cv2

    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise ModelError(f"face crops must be (N, S, S, 3) uint8 RGB, got {crops.shape}")
    h, w = opts.input_size
    out = np.empty((len(crops), h, w, opts.channels), dtype=np.float32)
    for i, crop in enumerate(crops):
        if opts.color == "gray":
            img = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        elif opts.color == "bgr":
            img = crop[..., ::-1]
        else:
            img = crop
        if img.shape[:2] != (h, w):
            shrink = img.shape[0] > h or img.shape[1] > w
            interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            img = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=interp)
        out[i] = img.reshape(h, w, opts.channels)
    mean = np.asarray(opts.mean, dtype=np.float32) * 255.0
    std = np.asarray(opts.std, dtype=np.float32) * 255.0
    out -= mean
    out /= std
    if opts.layout == "nchw":
        out = np.ascontiguousarray(out.transpose(0, 3, 1, 2))
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) scores."""
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class BackboneOutput:
    """What a backbone returns for a batch of faces.

    Attributes
    ----------
    embedding : numpy.ndarray, shape (N, D), float32
    probs : numpy.ndarray, shape (N, K), float32, or None
        Class probabilities (order :attr:`ExpressionBackbone.class_names`).
    """

    embedding: np.ndarray
    probs: np.ndarray | None


class ExpressionBackbone(ABC):
    """A network turning aligned face crops into an expression embedding.

    Subclasses set :attr:`kind`, :attr:`embedding_dim`, :attr:`class_names` and
    :attr:`options`, and implement :meth:`infer`.

    Attributes
    ----------
    kind : str
        Registry name (``"minixception"``, ``"onnx"``, ``"torchscript"``).
    path : str or None
        The model file (absolute), None for a built-in without a file argument.
    sha256 : str or None
        The model file's sha256.
    embedding_dim : int
        ``D``.
    class_names : tuple of str
        Names of the probability columns (empty: the backbone gives none).
    options : InputOptions
    """

    kind: str = ""
    path: str | None = None
    sha256: str | None = None
    embedding_dim: int = 0
    class_names: tuple[str, ...] = ()
    options: InputOptions = InputOptions()

    def identity(self) -> dict[str, Any]:
        """What identifies this backbone's outputs (enters the extractor's config hash)."""
        return {
            "kind": self.kind,
            "path": self.path,
            "sha256": self.sha256,
            "options": self.options.to_dict(),
            "embedding_dim": self.embedding_dim,
            "class_names": list(self.class_names),
            **self.extra_identity(),
        }

    def extra_identity(self) -> dict[str, Any]:
        """Backbone-specific identity entries (conversion version ...)."""
        return {}

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """Crops (N, S, S, 3) uint8 RGB -> network input (see :func:`prepare_input`)."""
        return prepare_input(crops, self.options)

    @abstractmethod
    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the network on a pre-processed batch.

        Returns
        -------
        embedding : numpy.ndarray, shape (N, D), float32
        probs : numpy.ndarray, shape (N, K), float32, or None
        """

    def __call__(self, crops: np.ndarray) -> BackboneOutput:
        """Embed a batch of face crops.

        Parameters
        ----------
        crops : numpy.ndarray, shape (N, S, S, 3), uint8
            RGB aligned face crops.

        Returns
        -------
        BackboneOutput
        """
        crops = np.asarray(crops)
        if len(crops) == 0:
            empty = np.zeros((0, self.embedding_dim), dtype=np.float32)
            probs = np.zeros((0, len(self.class_names)), np.float32) if self.class_names else None
            return BackboneOutput(empty, probs)
        emb, probs = self.infer(self.preprocess(crops))
        emb = np.asarray(emb, dtype=np.float32).reshape(len(crops), -1)
        if emb.shape[1] != self.embedding_dim:
            raise ModelError(
                f"{self.kind} backbone returned {emb.shape[1]} features, expected "
                f"{self.embedding_dim}",
                self.path,
            )
        if probs is not None:
            probs = np.asarray(probs, dtype=np.float32).reshape(len(crops), -1)
        return BackboneOutput(emb, probs)


def register_backbone(
    kind: str,
) -> Callable[[Callable[..., ExpressionBackbone]], Callable[..., ExpressionBackbone]]:
    """Decorator registering ``factory(path, options, num_threads)`` under ``kind``.

    Examples
    --------
    >>> @register_backbone("mynet")  # doctest: +SKIP
    ... def make_mynet(path, options, num_threads):
    ...     return MyNetBackbone(path, **options)
    """

    def deco(factory: Callable[..., ExpressionBackbone]) -> Callable[..., ExpressionBackbone]:
        _REGISTRY[kind] = factory
        return factory

    return deco


def backbone_kinds() -> list[str]:
    """Registered backbone kinds."""
    return sorted(set(_REGISTRY) | set(_LAZY))


def parse_backbone_spec(spec: str) -> tuple[str, str | None]:
    """Split ``"onnx:/path/model.onnx"`` into ``("onnx", "/path/model.onnx")``.

    A spec without a colon is a kind without a path (``"minixception"``).
    """
    spec = str(spec).strip()
    kind, sep, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in _REGISTRY and kind not in _LAZY:
        raise ConfigError(
            f"unknown expression backbone {kind!r} in {spec!r}; known: "
            f"{', '.join(backbone_kinds())} (e.g. onnx:/path/model.onnx)"
        )
    path = path.strip()
    return kind, (path or None) if sep else None


def load_backbone(
    spec: str = "minixception",
    options: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    num_threads: int = 1,
) -> ExpressionBackbone:
    """Instantiate a backbone from its spec string.

    Parameters
    ----------
    spec : str
        ``minixception``, ``minixception:/weights``, ``onnx:/path/model.onnx``,
        ``torchscript:/path/model.pt`` or a kind registered with :func:`register_backbone`.
    options : mapping or sequence of "key=value", optional
        Input options (see :class:`InputOptions`); the built-in needs none.
    num_threads : int
        CPU threads for inference.

    Raises
    ------
    ConfigError
        Unknown kind or bad option.
    ModelError
        The model file is missing or cannot be loaded/run.
    """
    import importlib

    kind, path = parse_backbone_spec(spec)
    if kind not in _REGISTRY:
        module_name, _, func = _LAZY[kind].partition(":")
        _REGISTRY[kind] = getattr(importlib.import_module(module_name), func)
    if path is not None:
        p = Path(os.path.expanduser(path))
        if not p.is_file():
            raise ModelError(f"{kind} backbone model file not found", p)
        path = str(p.resolve())
    return _REGISTRY[kind](path, parse_options(options), max(1, int(num_threads)))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)``, restoring the previous count."""
    import torch

    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


def default_num_threads() -> int:
    """A sensible inference thread count: half the CPUs, at least 1, at most 4.

    The face tracker and the decoder run in the same process; on a 2-core machine one
    inference thread is fastest in practice (measured, see docs/expression.md).
    """
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def probe_dims(backbone: ExpressionBackbone) -> tuple[int, int]:
    """Run ``backbone`` once on a gray dummy face; return (embedding dim, n classes)."""
    h, w = backbone.options.input_size
    dummy = np.full((1, max(h, 16), max(w, 16), 3), 128, dtype=np.uint8)
    emb, probs = backbone.infer(backbone.preprocess(dummy))
    emb = np.asarray(emb)
    if emb.ndim == 4:
        raise ModelError("embedding output is a 4-D map; the backbone must pool it")
    d = int(np.prod(emb.shape[1:])) if emb.ndim > 1 else 1
    k = 0 if probs is None else int(np.prod(np.asarray(probs).shape[1:]))
    return d, k
