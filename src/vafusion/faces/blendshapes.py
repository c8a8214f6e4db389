"""MediaPipe's 52 face blendshape scores from the face mesh the tracker already produces.

MediaPipe's FaceLandmarker computes ARKit-style blendshape coefficients (``browInnerUp``,
``jawOpen``, ``mouthSmileLeft``..., each in [0, 1]) with a small MLP-Mixer network
(``face_blendshapes.tflite``, Apache-2.0) from 146 of the 478 face-mesh points. The facts
this module relies on, from ``mediapipe/tasks/cc/vision/face_landmarker/
face_blendshapes_graph.cc`` and ``landmarks_to_tensor_calculator.cc``:

- the input is the (x, y) of the 146 points :data:`SUBSET` (in that order), as a
  (1, 146, 2) float32 tensor;
- the graph turns MediaPipe's normalised landmarks into *image pixels* (x times the image
  width, y times the image height) before the model; z is not used;
- the network itself removes translation and scale (it subtracts the points' mean and
  divides by their mean distance to it), so only the pixel aspect matters: our meshes,
  in original-frame pixels, are the right input whatever the decoder's downscaling;
- the 52 outputs are named as :data:`BLENDSHAPE_NAMES` (index 0, ``_neutral``, is a
  "neutral face" score MediaPipe says to ignore; it is kept as ``bs_neutral``).

The network runs with ONNX Runtime from the package asset
``assets/faces/face_blendshapes.onnx``, converted once from the ``.tflite`` by
``scripts/convert_blendshapes.py`` (a batch axis added, weights bit-identical, checked
against the TFLite interpreter); its sha256 is checked on load (:data:`MODEL_SHA256`).
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import numpy as np

from vafusion.errors import ModelError

#: The 146 face-mesh indices the network reads, in its input order (MediaPipe's
#: ``kLandmarksSubsetIdxs``; the last ten are the iris points 468-477).
SUBSET: tuple[int, ...] = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61,
    63, 65, 66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127,
    132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160,
    161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251,
    263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308,
    310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365,
    373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397,
    398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474, 475, 476,
    477,
)  # fmt: skip

#: The network's 52 outputs in order (MediaPipe's ``kBlendshapeNames``).
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip

#: Feature columns, ``bs_<name>`` (``bs_neutral`` for ``_neutral``).
BLENDSHAPE_COLUMNS: tuple[str, ...] = tuple(f"bs_{n.lstrip('_')}" for n in BLENDSHAPE_NAMES)

MODEL_FILE = "face_blendshapes.onnx"
#: sha256 of ``assets/faces/face_blendshapes.onnx`` (printed by the converter; in NOTICE).
MODEL_SHA256 = "854e1d2c8c3e8a8280b185898a69e022e7131c420c1bcae5dcd358e5ea2791d8"


def model_input(meshes: np.ndarray) -> np.ndarray:
    """The network's input from face meshes.

    Parameters
    ----------
    meshes : numpy.ndarray, shape (B, 478, 3)
        Face-mesh points with x, y in pixels of the frame (any uniform scale of it).

    Returns
    -------
    numpy.ndarray, shape (B, 146, 2), float32
        The (x, y) of the :data:`SUBSET` points.
    """
    meshes = np.asarray(meshes)
    if meshes.ndim != 3 or meshes.shape[1] < 478 or meshes.shape[2] < 2:
        raise ValueError(f"expected meshes of shape (B, 478, 2 or 3), got {meshes.shape}")
    return np.ascontiguousarray(meshes[:, SUBSET, :2], dtype=np.float32)


def default_model_path() -> Path:
    """Path of the packaged ONNX model (inside the installed package)."""
    ref = importlib.resources.files("vafusion") / "assets" / "faces" / MODEL_FILE
    return Path(str(ref))


class BlendshapeModel:
    """The blendshape network, loaded once and shareable between videos and threads.

    Parameters
    ----------
    path : str or PathLike, optional
        The ONNX model; default the packaged asset.
    num_threads : int
        ONNX Runtime intra-op threads.
    expected_sha256 : str, optional
        Refuse the file unless its sha256 matches (default :data:`MODEL_SHA256` for the
        packaged asset; pass ``""`` to skip the check for a model of your own).

    Raises
    ------
    ModelError
        Missing, tampered or unloadable model file.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        num_threads: int = 1,
        expected_sha256: str | None = None,
    ) -> None:
        from vafusion.expression.onnx_backbone import cpu_session
        from vafusion.fileio import file_sha256

        self.path = str(path or default_model_path())
        if expected_sha256 is None:
            expected_sha256 = MODEL_SHA256
        if not os.path.isfile(self.path):
            raise ModelError("blendshape model file not found", self.path)
        self.sha256 = file_sha256(self.path)
        if expected_sha256 and self.sha256 != expected_sha256:
            raise ModelError(
                f"blendshape model sha256 {self.sha256[:12]}... does not match the expected "
                f"{expected_sha256[:12]}... (file damaged or replaced); reinstall vafusion",
                self.path,
            )
        self._session = cpu_session(self.path, num_threads, "the blendshape model")

    def scores(self, points: np.ndarray) -> np.ndarray:
        """Run the network.

        Parameters
        ----------
        points : numpy.ndarray, shape (B, 146, 2)
            From :func:`model_input`.

        Returns
        -------
        numpy.ndarray, shape (B, 52), float32
            Scores in [0, 1], columns :data:`BLENDSHAPE_NAMES`.
        """
        points = np.ascontiguousarray(points, dtype=np.float32)
        if len(points) == 0:
            return np.zeros((0, len(BLENDSHAPE_NAMES)), np.float32)
        (out,) = self._session.run(["blendshapes"], {"points": points})  # thread-safe
        return np.asarray(out, dtype=np.float32)

    def __call__(self, meshes: np.ndarray) -> np.ndarray:
        """Scores of face meshes: (B, 478, 3) pixels -> (B, 52) (see :meth:`scores`)."""
        return self.scores(model_input(meshes))
