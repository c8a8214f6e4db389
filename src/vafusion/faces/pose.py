"""Head pose, gaze and OpenFace-style landmarks from MediaPipe meshes (vectorised).

All functions take a batch of meshes in original-frame pixels (see
:mod:`vafusion.faces.geometry` for the frames) and return arrays with one row per mesh.

Camera model: a pinhole camera with focal length ``f`` pixels (OpenFace's default
``500 * (W / 640 + H / 480) / 2`` unless given) and principal point at the image centre.
The similarity fit ``mesh ~= s R M + t`` is a weak-perspective camera: the head's
reference point (origin of the canonical model) lies at depth ``Tz = f / s`` mm, and
``Tx, Ty`` follow by back-projecting its image position ``t[:2]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.faces.geometry import (
    EYEBALL_RADIUS_MM,
    LEFT_EYE_CONTOUR,
    LEFT_IRIS,
    RIGHT_EYE_CONTOUR,
    RIGHT_IRIS,
    RIGID_INDICES,
    canonical_model,
    eyeball_centres_model,
    rotation_to_euler,
    umeyama_batch,
)

#: Eye-region landmark order: right (image-left) eye contour + iris, then the left eye's.
EYE_LANDMARKS: tuple[int, ...] = RIGHT_EYE_CONTOUR + RIGHT_IRIS + LEFT_EYE_CONTOUR + LEFT_IRIS


def default_focal(width: int, height: int) -> float:
    """OpenFace's default focal length in pixels for a ``width`` x ``height`` image."""
    return 0.5 * (500.0 * width / 640.0 + 500.0 * height / 480.0)


@dataclass
class PoseFit:
    """Rigid fit of a batch of meshes.

    Attributes
    ----------
    scale : numpy.ndarray, shape (B,)
        Pixels per model millimetre.
    rotation : numpy.ndarray, shape (B, 3, 3)
    shift : numpy.ndarray, shape (B, 3)
        Image-frame position (px) of the model origin.
    euler : numpy.ndarray, shape (B, 3)
        ``pose_Rx, pose_Ry, pose_Rz`` (radians).
    translation : numpy.ndarray, shape (B, 3)
        ``pose_Tx, pose_Ty, pose_Tz`` (mm, camera frame).
    residual : numpy.ndarray, shape (B,)
        RMS distance (model mm) of the rigid points from the fitted model.
    """

    scale: np.ndarray
    rotation: np.ndarray
    shift: np.ndarray
    euler: np.ndarray
    translation: np.ndarray
    residual: np.ndarray


def fit_pose(mesh: np.ndarray, width: int, height: int, focal: float | None = None) -> PoseFit:
    """Fit MediaPipe's canonical face to meshes (Umeyama on the rigid points).

    Parameters
    ----------
    mesh : numpy.ndarray, shape (B, 478, 3)
        Meshes in original-frame pixels.
    width, height : int
        Original frame size (for the camera intrinsics).
    focal : float, optional
        Focal length in pixels; OpenFace's default when None.

    Returns
    -------
    PoseFit
    """
    model = canonical_model()
    idx = np.asarray(RIGID_INDICES)
    s, rot, t = umeyama_batch(model[idx], mesh[:, idx, :])
    f = default_focal(width, height) if focal is None else float(focal)
    tz = f / s
    tx = (t[:, 0] - width / 2.0) * tz / f
    ty = (t[:, 1] - height / 2.0) * tz / f
    fitted = s[:, None, None] * np.matmul(model[idx][None], rot.transpose(0, 2, 1))
    fitted += t[:, None, :]
    resid = np.sqrt(((fitted - mesh[:, idx, :]) ** 2).sum(-1).mean(-1)) / s
    return PoseFit(
        scale=s,
        rotation=rot,
        shift=t,
        euler=rotation_to_euler(rot),
        translation=np.stack([tx, ty, tz], axis=1),
        residual=resid,
    )


def normalise_mesh(mesh: np.ndarray, fit: PoseFit) -> np.ndarray:
    """Remove head pose and size: ``R^T (mesh - t) / s`` (model frame, mm).

    Parameters
    ----------
    mesh : numpy.ndarray, shape (B, P, 3)
    fit : PoseFit

    Returns
    -------
    numpy.ndarray, shape (B, P, 3), float64
    """
    centred = (mesh - fit.shift[:, None, :]) / fit.scale[:, None, None]
    return np.matmul(centred, fit.rotation)


def camera_points(mesh: np.ndarray, fit: PoseFit, indices) -> np.ndarray:
    """3-D positions (mm, camera frame) of mesh points under the weak-perspective fit.

    Returns
    -------
    numpy.ndarray, shape (B, len(indices), 3)
    """
    sel = mesh[:, np.asarray(indices), :]
    return (sel - fit.shift[:, None, :]) / fit.scale[:, None, None] + fit.translation[:, None, :]


def gaze(mesh: np.ndarray, fit: PoseFit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaze vectors from the iris centres and the fitted eyeball centres.

    The eyeball centre of each eye (canonical model, 11 mm behind the eye-corner midpoint)
    is placed by the rigid fit; the iris centre's image offset from it, over the eyeball
    radius (12 mm), gives the x, y components of a unit vector whose z points to the
    camera (negative), as in OpenFace.

    Returns
    -------
    g0, g1 : numpy.ndarray, shape (B, 3)
        Unit gaze vectors of eye 0 (image-left, the subject's right) and eye 1.
    angles : numpy.ndarray, shape (B, 2)
        ``gaze_angle_x = atan2(gx, -gz)``, ``gaze_angle_y = atan2(gy, -gz)`` of the mean
        vector (radians).
    """
    centres = eyeball_centres_model()
    eyes = fit.scale[:, None, None] * np.matmul(centres[None], fit.rotation.transpose(0, 2, 1))
    eyes = eyes + fit.shift[:, None, :]
    out = []
    for e, iris in enumerate((RIGHT_IRIS[0], LEFT_IRIS[0])):
        d = (mesh[:, iris, :2] - eyes[:, e, :2]) / (fit.scale[:, None] * EYEBALL_RADIUS_MM)
        norm = np.linalg.norm(d, axis=1, keepdims=True)
        d = np.where(norm > 0.95, d / np.maximum(norm, 1e-9) * 0.95, d)
        gz = -np.sqrt(1.0 - (d**2).sum(1))
        out.append(np.column_stack([d, gz]))
    mean = out[0] + out[1]
    angles = np.column_stack(
        [np.arctan2(mean[:, 0], -mean[:, 2]), np.arctan2(mean[:, 1], -mean[:, 2])]
    )
    return out[0], out[1], angles
