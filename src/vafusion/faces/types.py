"""Plain data types passed from the face tracker to face-based extractors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FaceObservation:
    """One tracked face in one frame.

    Attributes
    ----------
    face_id : int
        Stable track id within the video (0, 1, ...).
    bbox : numpy.ndarray, shape (4,), float32
        ``x0, y0, x1, y1`` in pixels of the *original* (rotated, not downscaled) frame.
    landmarks : numpy.ndarray, shape (478, 3), float32
        MediaPipe face-mesh points: x, y in pixels of the original frame, z in the same
        pixel units (MediaPipe's relative depth scaled by the frame width).
    aligned : numpy.ndarray, shape (S, S, 3), uint8
        RGB face crop aligned to the fixed template (S = 112 by default); the same crop
        feeds every downstream model.
    score : float
        Detection/tracking confidence in [0, 1].
    """

    face_id: int
    bbox: np.ndarray
    landmarks: np.ndarray
    aligned: np.ndarray
    score: float = 1.0
