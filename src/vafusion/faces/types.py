"""Plain data types passed from the face tracker to face-based extractors."""

from __future__ import annotations

import numpy as np


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
        feeds every downstream model. The tracker may defer the warp until first access
        (``align_from``), so that a consumer thread, not the tracking thread, pays for it.
    score : float
        Detection/tracking confidence in [0, 1].

    Parameters
    ----------
    face_id, bbox, landmarks, aligned, score
        As the attributes; ``aligned`` may be None when ``align_from`` is given.
    align_from : tuple, optional
        ``(image, matrix, size)``: the decoded frame (H, W, 3) uint8, the (2, 3) affine
        matrix from its pixels to the crop, and the crop side; used on first access of
        ``aligned``.
    """

    __slots__ = ("face_id", "bbox", "landmarks", "score", "_aligned", "_align_from")

    def __init__(
        self,
        face_id: int,
        bbox: np.ndarray,
        landmarks: np.ndarray,
        aligned: np.ndarray | None = None,
        score: float = 1.0,
        *,
        align_from: tuple[np.ndarray, np.ndarray, int] | None = None,
    ) -> None:
        if aligned is None and align_from is None:
            raise ValueError("FaceObservation needs aligned or align_from")
        self.face_id = face_id
        self.bbox = bbox
        self.landmarks = landmarks
        self.score = score
        self._aligned = aligned
        self._align_from = align_from

    @property
    def aligned(self) -> np.ndarray:
        """The aligned RGB crop, shape (S, S, 3), uint8 (computed on first access)."""
        if self._aligned is None:
            import cv2

            image, matrix, size = self._align_from  # type: ignore[misc]
            self._aligned = cv2.warpAffine(
                image,
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            self._align_from = None  # release the frame
        return self._aligned

    @aligned.setter
    def aligned(self, value: np.ndarray) -> None:
        self._aligned = value
        self._align_from = None

    def __repr__(self) -> str:
        return (
            f"FaceObservation(face_id={self.face_id}, bbox={np.round(self.bbox, 1).tolist()}, "
            f"score={self.score:.2f})"
        )
