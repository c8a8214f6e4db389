"""Action-unit intensities from pose-normalised 3D face geometry, calibrated per track.

Method
------
For each AU a geometric *measure* is computed on the pose-normalised mesh (model frame,
millimetres of MediaPipe's canonical face, so head pose and face size are removed; Y
points down): e.g. AU12 = lip-corner elevation above the lip centre plus a share of mouth
widening, AU45 = relative closure of the eyelids. Each measure grows with its AU. The
track's *neutral* value of each measure is a robust baseline (median over the track's
running neutral reservoir, see :mod:`vafusion.faces.facepose`). Intensity is

    AUxx_r = clip(5 * (measure - neutral) / full_scale, 0, 5)

with ``full_scale`` the displacement (mm, or a ratio for AU45) taken as maximal intensity
(:data:`FULL_SCALE`). These are geometric proxies, not FACS-coded detectors: see
``docs/faces.md`` for how they were checked and their limits.
"""

from __future__ import annotations

import numpy as np

from vafusion.faces.columns import AU_NAMES

# mesh indices (MediaPipe face mesh); "r" = subject's right = image left
_BROW_IN = (107, 336)
_BROW_OUT = (46, 276)
_BROW_MID = (105, 334)
_EYE_OUT = (33, 263)
_EYE_IN = (133, 362)
_LID_UP = (159, 386)
_LID_LO = (145, 374)
_CHEEK = (50, 280)
_NOSE_WING = (129, 358)
_NOSE_BASE = 2
_LIP_TOP = 0
_LIP_IN_UP = 13
_LIP_IN_LO = 14
_LIP_BOTTOM = 17
_CORNER = (61, 291)
_CHIN = 152

#: Displacement (mm on the canonical face; a ratio for AU45) mapped to intensity 5.
FULL_SCALE: dict[str, float] = {
    "AU01": 5.0,
    "AU02": 5.0,
    "AU04": 4.0,
    "AU05": 2.5,
    "AU06": 3.0,
    "AU07": 2.0,
    "AU09": 3.0,
    "AU10": 3.0,
    "AU12": 6.0,
    "AU14": 3.0,
    "AU15": 4.0,
    "AU17": 4.0,
    "AU20": 6.0,
    "AU23": 3.0,
    "AU25": 8.0,
    "AU26": 12.0,
    "AU45": 0.8,
}


def _y(m: np.ndarray, i) -> np.ndarray:
    if isinstance(i, tuple):
        return 0.5 * (m[:, i[0], 1] + m[:, i[1], 1])
    return m[:, i, 1]


def au_measures(mesh: np.ndarray) -> np.ndarray:
    """Raw geometric measures, one per AU (each grows with its AU).

    Parameters
    ----------
    mesh : numpy.ndarray, shape (B, 468, 3) or (B, 478, 3)
        Pose-normalised meshes in the model frame (mm, Y down).

    Returns
    -------
    numpy.ndarray, shape (B, 17), float64
        Columns in :data:`~vafusion.faces.columns.AU_NAMES` order. AU45 is the eye opening
        (mm) here; :func:`au_intensities` turns it into a relative closure.
    """
    m = np.asarray(mesh, dtype=np.float64)
    eye_line = 0.5 * (_y(m, _EYE_OUT) + _y(m, _EYE_IN))
    brow_in = _y(m, _EYE_IN) - _y(m, _BROW_IN)  # height of inner brows above inner corners
    brow_out = _y(m, _EYE_OUT) - _y(m, _BROW_OUT)
    brow_mid = eye_line - _y(m, _BROW_MID)
    brow_gap = m[:, _BROW_IN[1], 0] - m[:, _BROW_IN[0], 0]
    upper_lid = eye_line - _y(m, _LID_UP)
    lower_lid = _y(m, _LID_LO) - eye_line
    opening = _y(m, _LID_LO) - _y(m, _LID_UP)
    cheek = _y(m, _CHEEK) - eye_line
    nose = _y(m, _NOSE_WING) - _y(m, _EYE_IN)
    upper_lip = _y(m, _LIP_TOP) - _y(m, _NOSE_BASE)
    lip_centre = 0.5 * (_y(m, _LIP_IN_UP) + _y(m, _LIP_IN_LO))
    corner_rise = lip_centre - _y(m, _CORNER)
    width = m[:, _CORNER[1], 0] - m[:, _CORNER[0], 0]
    corner_depth = 0.5 * (m[:, _CORNER[0], 2] + m[:, _CORNER[1], 2])
    chin = _y(m, _CHIN) - _y(m, _LIP_BOTTOM)
    lip_thick = (_y(m, _LIP_IN_UP) - _y(m, _LIP_TOP)) + (_y(m, _LIP_BOTTOM) - _y(m, _LIP_IN_LO))
    lip_gap = _y(m, _LIP_IN_LO) - _y(m, _LIP_IN_UP)
    jaw = _y(m, _CHIN) - _y(m, _NOSE_BASE)
    cols = {
        "AU01": brow_in,
        "AU02": brow_out,
        "AU04": -brow_mid - 0.5 * brow_gap,
        "AU05": upper_lid,
        "AU06": -cheek,
        "AU07": -lower_lid,
        "AU09": -nose,
        "AU10": -upper_lip,
        "AU12": corner_rise + 0.3 * width,
        "AU14": corner_depth,
        "AU15": -corner_rise,
        "AU17": -chin,
        "AU20": width - 1.5 * np.maximum(corner_rise, 0.0),
        "AU23": -lip_thick,
        "AU25": lip_gap,
        "AU26": jaw,
        "AU45": opening,
    }
    return np.stack([cols[a] for a in AU_NAMES], axis=1)


def au_intensities(measures: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """AU intensities on OpenFace's 0-5 scale.

    Parameters
    ----------
    measures : numpy.ndarray, shape (B, 17)
        From :func:`au_measures`.
    neutral : numpy.ndarray, shape (17,)
        The track's neutral measures (robust baseline).

    Returns
    -------
    numpy.ndarray, shape (B, 17), float64
        In [0, 5].
    """
    delta = measures - neutral[None, :]
    i45 = AU_NAMES.index("AU45")
    delta[:, i45] = 1.0 - measures[:, i45] / max(float(neutral[i45]), 1e-6)
    i25 = AU_NAMES.index("AU25")
    # lips apart is absolute (a neutral face may hold its lips apart a little)
    delta[:, i25] = np.maximum(measures[:, i25] - min(float(neutral[i25]), 1.0), 0.0)
    scale = np.array([FULL_SCALE[a] for a in AU_NAMES])
    return np.clip(5.0 * delta / scale, 0.0, 5.0)
