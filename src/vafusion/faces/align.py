"""Aligned face crops: a similarity transform of five mesh points onto a fixed template.

The five points are the two eye centres (mid-points of the eye corners, so gaze does not
move the crop), the nose tip and the two mouth corners. The template is the widely used
112x112 five-point template (ArcFace) shrunk by 0.85 about the crop centre, so the crop
shows the whole face from the forehead to the chin like OpenFace's 112x112 aligned faces.
The same crop feeds every downstream model.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Mesh indices of the five alignment points: (corner, corner) pairs are averaged.
_EYE_R = (33, 133)
_EYE_L = (263, 362)
_NOSE = 4
_MOUTH_R = 61
_MOUTH_L = 291

#: ArcFace 112x112 template: right eye (image left), left eye, nose tip, mouth corners.
_ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ]
)
#: Shrink factor of the template about the crop centre (1.0 = ArcFace's tight crop).
TEMPLATE_SHRINK = 0.85


def template(size: int = 112) -> np.ndarray:
    """The five template points for a ``size`` x ``size`` crop, shape (5, 2), pixels."""
    pts = (_ARCFACE_112 - 56.0) * TEMPLATE_SHRINK + 56.0
    return pts * (size / 112.0)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The five alignment points of a mesh.

    Parameters
    ----------
    landmarks : numpy.ndarray, shape (478, 3) or (468, 3)
        Mesh in any 2-D pixel frame (only x, y are used).

    Returns
    -------
    numpy.ndarray, shape (5, 2)
    """
    lm = landmarks[:, :2]
    return np.stack(
        [
            0.5 * (lm[_EYE_R[0]] + lm[_EYE_R[1]]),
            0.5 * (lm[_EYE_L[0]] + lm[_EYE_L[1]]),
            lm[_NOSE],
            lm[_MOUTH_R],
            lm[_MOUTH_L],
        ]
    ).astype(np.float64)


def similarity_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2-D similarity (Umeyama) mapping ``src`` onto ``dst``.

    Parameters
    ----------
    src, dst : numpy.ndarray, shape (P, 2)

    Returns
    -------
    numpy.ndarray, shape (2, 3)
        Affine matrix ``[sR | t]`` for :func:`cv2.warpAffine`.
    """
    # closed form with complex numbers: dst - mu_d = a * (src - mu_s), a = scale * e^(i angle)
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = zs.mean(), zd.mean()
    cs = zs - ms
    a = np.vdot(cs, zd - md) / max(float(np.vdot(cs, cs).real), 1e-12)
    t = md - a * ms
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]])


def alignment_matrix(landmarks_px: np.ndarray, size: int = 112) -> np.ndarray:
    """Affine matrix, shape (2, 3), from the pixels of ``landmarks_px`` to the crop."""
    return similarity_2d(five_points(landmarks_px), template(size))


def align_face(image: np.ndarray, landmarks_px: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp a face to the template.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8
        The frame the landmarks refer to.
    landmarks_px : numpy.ndarray, shape (478, 3)
        Mesh in pixels of ``image``.
    size : int
        Output side in pixels.

    Returns
    -------
    numpy.ndarray, shape (size, size, 3), uint8
    """
    import cv2

    m = alignment_matrix(landmarks_px, size)
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def aligned_path(root: str | os.PathLike, video_stem: str, frame_index: int, face_id: int) -> Path:
    """Path of an aligned crop in the Aff-Wild2 layout.

    ``<root>/<stem>/<00001>.jpg`` (1-based frame number) for face 0 and
    ``<root>/<stem>_face<k>/<00001>.jpg`` for other tracks.
    """
    folder = video_stem if face_id == 0 else f"{video_stem}_face{face_id}"
    return Path(root) / folder / f"{frame_index + 1:05d}.jpg"


def write_aligned(path: Path, aligned_rgb: np.ndarray, quality: int = 95) -> None:
    """Write one RGB crop as JPEG (folders created as needed)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), aligned_rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
