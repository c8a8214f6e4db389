"""3D face geometry: MediaPipe's canonical face, rigid fits, head pose and the 68-point map.

Coordinate frames
-----------------
*Image frame* (``landmarks`` of :class:`~vafusion.faces.types.FaceObservation`): x right and
y down in pixels of the original frame, z away from the camera in the same pixel units
(MediaPipe's relative depth times the frame width).

*Model frame* (OpenFace's convention): the canonical face in millimetres with X to the
image right (the subject's left), Y down and Z away from the camera, so a frontal face has
rotation identity and its nose points to -Z. MediaPipe's canonical face model (centimetres,
y up, z towards the viewer) is converted by ``diag(10, -10, -10)``.

Head pose is a similarity fit (Umeyama) of the model's rigid points to the image-frame mesh:
``mesh ~= s * R @ model + t``. ``R`` is the head rotation in the camera frame; its OpenFace
Euler angles (``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)``) are ``pose_Rx, pose_Ry, pose_Rz``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

#: MediaPipe canonical face model (cm, y up, z to viewer) -> model frame (mm, y down, z away).
_CANON_TO_MODEL = np.array([10.0, -10.0, -10.0], dtype=np.float64)

#: Mesh indices that barely move with expression (forehead, temples, nose bridge and tip,
#: eye corners; cheeks excluded because AU06 moves them): used for the rigid head-pose fit.
RIGID_INDICES: tuple[int, ...] = (
    10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1,  # midline forehead -> nose tip
    109, 67, 103, 338, 297, 332,  # forehead
    33, 133, 263, 362,  # eye corners
    127, 356, 234, 454, 162, 389, 21, 251,  # temples / face sides
    122, 351, 188, 412, 114, 343,  # nose sides
)  # fmt: skip

#: iBUG/OpenFace 68-point order -> MediaPipe face-mesh index (documented in docs/faces.md).
IBUG68_FROM_MESH: tuple[int, ...] = (
    # 0-16 jaw, from the subject's right (image left) over the chin to the left
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    # 17-21 right brow (outer -> inner), 22-26 left brow (inner -> outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # 27-30 nose bridge -> tip, 31-35 nostrils (right -> left)
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # 36-41 right eye (outer corner, upper lid x2, inner corner, lower lid x2)
    33, 160, 158, 133, 153, 144,
    # 42-47 left eye (inner corner, upper lid x2, outer corner, lower lid x2)
    362, 385, 387, 263, 373, 380,
    # 48-59 outer lips: right corner, upper lip, left corner, lower lip
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    # 60-67 inner lips: right corner, upper, left corner, lower
    78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip

#: Eye contour (16 points each, MediaPipe order) of the right (image-left) and left eye.
RIGHT_EYE_CONTOUR: tuple[int, ...] = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
)  # fmt: skip
LEFT_EYE_CONTOUR: tuple[int, ...] = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
)  # fmt: skip
#: Iris points (centre first, then 4 on the rim) of the right (image-left) and left eye.
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)

#: Eyeball radius (mm) and depth of the eyeball centre behind the eye-corner midpoint.
EYEBALL_RADIUS_MM = 12.0
EYEBALL_DEPTH_MM = 11.0


@cache
def canonical_model() -> np.ndarray:
    """MediaPipe's canonical face mesh in the model frame.

    Returns
    -------
    numpy.ndarray, shape (468, 3), float64
        Millimetres; X right, Y down, Z away from the camera.
    """
    ref = resources.files("vafusion.assets") / "faces" / "canonical_face_468.npy"
    with resources.as_file(ref) as p:
        canon = np.load(p).astype(np.float64)
    return canon * _CANON_TO_MODEL


def eyeball_centres_model() -> np.ndarray:
    """Eyeball centres of the canonical face, shape (2, 3), mm: right (image-left) eye first."""
    model = canonical_model()
    out = []
    for a, b in ((33, 133), (263, 362)):
        c = 0.5 * (model[a] + model[b])
        c[2] += EYEBALL_DEPTH_MM
        out.append(c)
    return np.asarray(out)


def umeyama_batch(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity transforms ``dst ~= s * R @ src + t`` for a batch.

    Parameters
    ----------
    src : numpy.ndarray, shape (P, 3) or (B, P, 3)
        Source points (shared by the batch when 2-D).
    dst : numpy.ndarray, shape (B, P, 3)
        Target points.
    weights : numpy.ndarray, shape (P,), optional
        Non-negative point weights.

    Returns
    -------
    s : numpy.ndarray, shape (B,)
    R : numpy.ndarray, shape (B, 3, 3)
        Proper rotations (det +1).
    t : numpy.ndarray, shape (B, 3)
    """
    dst = np.asarray(dst, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    if src.ndim == 2:
        src = np.broadcast_to(src, dst.shape)
    w = np.ones(dst.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = w @ src  # (B, 3)
    mu_d = w @ dst
    xs = src - mu_s[:, None]
    xd = dst - mu_d[:, None]
    cov = np.matmul((xd * w[None, :, None]).transpose(0, 2, 1), xs)  # (B, 3, 3)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    d[d == 0] = 1.0
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    rot = (u * fix[:, None, :]) @ vt
    var_s = (xs**2).sum(-1) @ w
    s = (sig * fix).sum(1) / np.maximum(var_s, 1e-12)
    t = mu_d - s[:, None] * np.matmul(rot, mu_s[:, :, None])[:, :, 0]
    return s, rot, t


def rotation_to_euler(rot: np.ndarray) -> np.ndarray:
    """OpenFace Euler angles of rotation matrices (``R = Rx(a) @ Ry(b) @ Rz(c)``).

    Parameters
    ----------
    rot : numpy.ndarray, shape (B, 3, 3)

    Returns
    -------
    numpy.ndarray, shape (B, 3)
        ``(pitch a, yaw b, roll c)`` in radians = ``pose_Rx, pose_Ry, pose_Rz``.
    """
    r = np.asarray(rot, dtype=np.float64)
    yaw = np.arcsin(np.clip(r[:, 0, 2], -1.0, 1.0))
    pitch = np.arctan2(-r[:, 1, 2], r[:, 2, 2])
    roll = np.arctan2(-r[:, 0, 1], r[:, 0, 0])
    return np.stack([pitch, yaw, roll], axis=1)
