"""The fixed, versioned column list of the "facepose" feature set.

Bump :data:`FACEPOSE_VERSION` whenever a column is added, removed, reordered or changes
meaning: stored tables record the version they were computed with.
"""

from __future__ import annotations

#: Version of the column list and of the computation behind it.
FACEPOSE_VERSION = "facepose-2"  # 2: geometry basis re-fitted with two clips held out

#: Action units with intensities (OpenFace's 17 ``AUxx_r``), in column order.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)  # fmt: skip

N_LANDMARKS = 68
N_EYE_LANDMARKS = 42  # per eye 16 contour + 5 iris points; image-left eye first
N_GEOMETRY = 64  # expression-geometry PCA components


def facepose_columns(n_geometry: int = N_GEOMETRY) -> list[str]:
    """All facepose columns in order (653 with the defaults).

    Groups: ``confidence, success``; gaze (8); eye-region landmarks ``eye_lmk_x/y_*`` (px)
    and ``eye_lmk_X/Y/Z_*`` (mm); head pose ``pose_T*`` (mm) ``pose_R*`` (rad); 68
    landmarks ``x_*, y_*`` (px) and ``X_*, Y_*, Z_*`` (mm); rigid fit ``p_scale, p_rx,
    p_ry, p_rz, p_tx, p_ty``; expression geometry ``geom_*``; ``AUxx_r`` (0-5).
    ``face_id`` and ``face_valid`` are the table's ``face_id`` and ``valid`` fields.
    """
    cols = ["confidence", "success"]
    cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"]
    cols += ["gaze_angle_x", "gaze_angle_y"]
    for axis in ("x", "y", "X", "Y", "Z"):
        cols += [f"eye_lmk_{axis}_{i}" for i in range(N_EYE_LANDMARKS)]
    cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    for axis in ("x", "y", "X", "Y", "Z"):
        cols += [f"{axis}_{i}" for i in range(N_LANDMARKS)]
    cols += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"]
    cols += [f"geom_{i}" for i in range(n_geometry)]
    cols += [f"{au}_r" for au in AU_NAMES]
    return cols
