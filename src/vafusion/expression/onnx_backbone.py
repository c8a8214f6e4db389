"""``onnx:/path/model.onnx``: any ONNX model as an expression backbone (ONNX Runtime, CPU).

Options (see :class:`~vafusion.expression.backbone.InputOptions`): ``input_size``,
``color``, ``mean``, ``std``, ``layout``, ``output`` (embedding output name; default the
first output), ``probs_output``, ``softmax``, ``classes``. A 4-D embedding output is
globally average-pooled. A model whose batch axis is fixed is run face by face.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vafusion.errors import ModelError
from vafusion.expression.backbone import (
    ExpressionBackbone,
    InputOptions,
    input_options_from,
    probe_dims,
    softmax,
)
from vafusion.fileio import file_sha256


def cpu_session(path: str | bytes, num_threads: int, what: str = "the model"):
    """An ONNX Runtime CPU session (quiet, ``num_threads`` intra-op threads) of a model file
    (or of the model's serialised bytes).

    Raises
    ------
    ModelError
        ONNX Runtime cannot load the file (one line naming ``what`` and the file).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = num_threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        model = path if isinstance(path, bytes) else str(path)
        return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        where = None if isinstance(path, bytes) else path
        raise ModelError(f"ONNX Runtime cannot load {what}: {exc}", where) from None


def pool_embedding(x: np.ndarray, layout: str) -> np.ndarray:
    """(N, D) unchanged; (N, C, H, W) / (N, H, W, C) averaged over space -> (N, C)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        return x.mean(axis=(2, 3)) if layout == "nchw" else x.mean(axis=(1, 2))
    return x.reshape(len(x), -1)


class OnnxBackbone(ExpressionBackbone):
    """An ONNX model run with ONNX Runtime.

    Parameters
    ----------
    path : str
        The ``.onnx`` file.
    options : InputOptions
    num_threads : int
    """

    kind = "onnx"

    def __init__(self, path: str, options: InputOptions, num_threads: int = 1) -> None:
        self.path = str(path)
        self.sha256 = file_sha256(path)
        self.options = options
        self.session = cpu_session(self.path, num_threads)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"expected a model with one input, it has {len(inputs)}", path)
        self.input_name = inputs[0].name
        batch_dim = inputs[0].shape[0] if inputs[0].shape else None
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None
        names = [o.name for o in self.session.get_outputs()]
        self.output_name = options.output or names[0]
        for key, name in (("output", self.output_name), ("probs_output", options.probs_output)):
            if name and name not in names:
                raise ModelError(
                    f"backbone option {key}={name!r}: the model's outputs are {', '.join(names)}",
                    path,
                )
        self.embedding_dim, n_classes = probe_dims(self)
        self.class_names = _class_names(options, n_classes, path)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        wanted = [self.output_name]
        if self.options.probs_output:
            wanted.append(self.options.probs_output)
        step = self.fixed_batch or len(batch)
        embs, probs = [], []
        for i in range(0, len(batch), max(step, 1)):
            chunk = np.ascontiguousarray(batch[i : i + step], dtype=np.float32)
            try:
                out = self.session.run(wanted, {self.input_name: chunk})
            except Exception as exc:
                msg = f"ONNX Runtime failed on the face batch: {exc}"
                raise ModelError(msg, self.path) from None
            embs.append(pool_embedding(out[0], self.options.layout))
            if len(out) > 1:
                probs.append(np.asarray(out[1], dtype=np.float32).reshape(len(chunk), -1))
        emb = np.concatenate(embs)
        if not probs:
            return emb, None
        p = np.concatenate(probs)
        return emb, softmax(p) if self.options.softmax else p


def _class_names(options: InputOptions, n_classes: int, path: str) -> tuple[str, ...]:
    if not options.probs_output:
        return ()
    if options.classes:
        if len(options.classes) != n_classes:
            raise ModelError(
                f"backbone option classes names {len(options.classes)} classes, the model's "
                f"{options.probs_output!r} output has {n_classes}",
                path,
            )
        return options.classes
    return tuple(f"class_{i}" for i in range(n_classes))


def make_onnx(path: str | None, options: dict[str, Any], num_threads: int) -> OnnxBackbone:
    """Registry factory for ``onnx:/path/model.onnx``."""
    if path is None:
        raise ModelError("the onnx backbone needs a model path: onnx:/path/model.onnx")
    return OnnxBackbone(path, input_options_from(options), num_threads)
