"""Per-frame face cues of one tracked face, from the one decode pass (default model).

Inputs are the dense per-frame tables of one face (:func:`vafusion.faces.subjects.select_face`)
of the ``expression`` feature set (FER2013 class probabilities) and of the ``facepose``
feature set (head pose, expression geometry, action-unit intensities). Every cue is NaN
where the face is not seen.

Cues
----
``prior_valence``, ``prior_arousal``
    The categorical prior: calibrated class probabilities mapped through circumplex
    coordinates (:func:`vafusion.predict.circumplex.probabilities_to_va`).
``activation``
    Facial activation: the mean of the 16 action-unit intensities (0-5, AU45 blink left
    out) divided by 5. The AUs are measured against the track's running neutral face, so
    this is movement away from the person's own resting face.
``velocity``
    Expression velocity: speed of the pose-free expression geometry (``geom_*``, PCA of
    the pose-normalised mesh in canonical millimetres) over a 0.2 s time base, after a
    0.2 s moving average that removes frame-to-frame landmark jitter; ``log1p`` of units
    per second.
``head_motion``
    Head-motion energy: rotation speed (rad/s) plus translation speed in face heights per
    second (pose translation / 150 mm, the canonical face's height, so it does not depend
    on the face's size on screen), both over a 0.2 s time base, minus the track's jitter
    floor (its 10th percentile, at most :data:`MAX_JITTER_FLOOR`), clipped at 0; ``log1p``.
``mouth``
    Mouth opening (AU25 + AU26 intensities), used to attribute the voice to a speaking face.

Confidence
----------
``confidence`` in [0, 1] is the product of four factors, each a judgement call (no labelled
data here to fit them): classifier certainty ``1 - 0.5 * H(p) / log 7`` (an uncertain
classifier halves it); face size ``clip((h - 32) / 64, 0, 1)`` for a box ``h`` pixels high
(FER2013 faces are 48 px: below 32 px the crop is up-sampled noise, full trust from 96 px);
frontality ``clip((60 - |yaw|) / 30, 0, 1)`` (full to 30 degrees, none at 60 degrees where the
far half of the face is hidden); and tracking quality ``clip(c / 0.5, 0, 1)`` of the facepose
``confidence`` ``c`` (detection score times rigid-fit quality; it is 0.4-0.8 on the clean,
frontal faces of the test clips, so 0.5 and above counts as full trust).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.faces.columns import AU_NAMES, facepose_columns
from vafusion.predict.circumplex import PROB_COLUMNS, CircumplexConfig, probabilities_to_va

#: Cue names in the order of :attr:`FaceCues.values`.
FACE_CUES = ("prior_valence", "prior_arousal", "activation", "velocity", "head_motion")

#: Height of MediaPipe's canonical face (mm), the unit of head translation speed.
FACE_HEIGHT_MM = 150.0
#: Largest accepted jitter floor of head motion (rad/s + face heights/s): a judgement call
#: (a track whose 10th percentile exceeds it never rested, so its low percentile is real
#: motion, not tracker jitter).
MAX_JITTER_FLOOR = 0.15
#: Moving-average window applied to the geometry before differentiating (s).
GEOMETRY_SMOOTH_S = 0.2
#: Time base of the speeds (s): positions 0.2 s apart (a judgement call: about one
#: syllable or a quick head turn; long enough that tracker jitter does not dominate).
SPEED_LAG_S = 0.2


@dataclass
class FaceCues:
    """Cues of one face over the frames of one video.

    Attributes
    ----------
    values : dict of str to numpy.ndarray, each shape (T,), float64
        :data:`FACE_CUES` plus ``mouth``; NaN where the face is not seen.
    confidence : numpy.ndarray, shape (T,), float64
        In [0, 1]; 0 where the face is not seen.
    valid : numpy.ndarray, shape (T,), bool
    """

    values: dict[str, np.ndarray]
    confidence: np.ndarray
    valid: np.ndarray


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 over the finite rows (NaN rows stay NaN).

    Hand-written (cumulative sums): the filters of :mod:`vafusion.smoothing` do not skip
    NaN rows this way. Windows shrink at the ends and never exceed the series. Memory:
    the (T + 1, D) float64 cumulative sum and the output, filled in blocks of rows (an
    hour of 64 geometry columns is ~44 MB per copy).
    """
    ok = np.isfinite(x).all(axis=1)
    if width <= 1 or len(x) == 0:
        return x
    n = len(x)
    c = np.zeros((n + 1, x.shape[1]))
    c[1:] = x
    c[1:][~ok] = 0.0
    np.cumsum(c[1:], axis=0, out=c[1:])
    k = np.concatenate([[0], np.cumsum(ok)])
    out = np.empty_like(c[1:])
    for b0 in range(0, n, _BLOCK):
        b1 = min(b0 + _BLOCK, n)
        idx = np.arange(b0, b1)
        lo = np.clip(idx - width // 2, 0, n)
        hi = np.clip(idx + width // 2 + 1, 0, n)
        np.subtract(c[hi], c[lo], out=out[b0:b1])
        out[b0:b1] /= np.maximum(k[hi] - k[lo], 1)[:, None]
    out[~ok] = np.nan
    return out


#: rows per block of the cue filters (bounds their temporary arrays)
_BLOCK = 8192


def _speed(x: np.ndarray, t: np.ndarray, lag_s: float = SPEED_LAG_S) -> np.ndarray:
    """(T, D) -> (T,) speed per second over a fixed time base.

    ``|x(t + lag/2) - x(t - lag/2)| / lag`` with ``x`` linearly interpolated in time between
    its finite rows (held at the ends). A fixed lag, not frame-to-frame differences, makes
    the speed independent of the frame rate and of a frame stride (frame-to-frame
    differences of landmark jitter grow with the frame rate). NaN rows stay NaN. Computed
    one column at a time (memory: a few (T,) arrays, not (T, D)).
    """
    d = np.full(len(t), np.nan)
    idx = np.flatnonzero(np.isfinite(x).all(axis=1))
    if len(idx) < 2:
        return d
    tt = t[idx]
    squares = np.zeros(len(idx))
    for k in range(x.shape[1]):
        col = x[idx, k]
        step = np.interp(tt + lag_s / 2, tt, col) - np.interp(tt - lag_s / 2, tt, col)
        squares += step * step
    d[idx] = np.sqrt(squares) / lag_s
    return d


@dataclass(frozen=True)
class CueColumns:
    """Where the cues' inputs are among a facepose table's columns.

    Attributes
    ----------
    aus : list of int
        The 16 action-unit intensities (AU45 left out).
    geom : list of int
        ``geom_*`` (pose-free expression geometry).
    rotation, translation : list of int
        ``pose_Rx..Rz`` (rad) and ``pose_Tx..Tz`` (mm).
    mouth : list of int
        ``AU25_r``, ``AU26_r``.
    yaw, tracking : int
        ``pose_Ry`` and ``confidence``.
    """

    aus: list[int]
    geom: list[int]
    rotation: list[int]
    translation: list[int]
    mouth: list[int]
    yaw: int
    tracking: int

    @classmethod
    def of(cls, columns) -> CueColumns:
        """Indices of the inputs in ``columns`` (a facepose table's column names)."""
        index = {c: i for i, c in enumerate(columns)}
        return cls(
            aus=[index[f"{a}_r"] for a in AU_NAMES if a != "AU45"],
            geom=[i for c, i in index.items() if c.startswith("geom_")],
            rotation=[index[f"pose_R{a}"] for a in "xyz"],
            translation=[index[f"pose_T{a}"] for a in "xyz"],
            mouth=[index["AU25_r"], index["AU26_r"]],
            yaw=index["pose_Ry"],
            tracking=index["confidence"],
        )

    def activation(self, values: np.ndarray) -> np.ndarray:
        """(T, D) facepose rows -> (T,) facial activation (mean AU intensity / 5)."""
        return values[:, self.aus].astype(np.float64).mean(axis=1) / 5.0

    def mouth_opening(self, values: np.ndarray) -> np.ndarray:
        """(T, D) facepose rows -> (T,) AU25 + AU26 intensities."""
        return values[:, self.mouth].astype(np.float64).sum(axis=1)

    def head_position(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, D) rows -> rotation (T, 3) rad and translation (T, 3) in face heights."""
        rot = values[:, self.rotation].astype(np.float64)
        return rot, values[:, self.translation].astype(np.float64) / FACE_HEIGHT_MM


def jitter_floor(head_speed: np.ndarray) -> float:
    """Jitter floor of head motion: 10th percentile of the finite speeds, at most
    :data:`MAX_JITTER_FLOOR` (0 when there are none)."""
    ok = head_speed[np.isfinite(head_speed)]
    return min(float(np.percentile(ok, 10)), MAX_JITTER_FLOOR) if len(ok) else 0.0


def face_cues(
    expression,
    facepose,
    bbox: np.ndarray,
    timestamps: np.ndarray,
    circumplex: CircumplexConfig | None = None,
) -> FaceCues:
    """Compute the cues of one face.

    Parameters
    ----------
    expression, facepose : FeatureTable
        Dense tables of the same face (``select_face`` output, ``T`` rows each).
    bbox : numpy.ndarray, shape (T, 4)
        Face box ``x0, y0, x1, y1`` in original-frame pixels (NaN where not seen).
    timestamps : numpy.ndarray, shape (T,)
    circumplex : CircumplexConfig, optional

    Returns
    -------
    FaceCues
    """
    t = np.asarray(timestamps, dtype=np.float64)
    valid = expression.valid & facepose.valid
    probs = expression.values[:, [expression.columns.index(c) for c in PROB_COLUMNS]]
    prior = np.full((len(t), 2), np.nan)
    prior[valid] = probabilities_to_va(probs[valid], circumplex)
    cols = CueColumns.of(facepose.columns)
    fp = facepose.values
    geom = fp[:, cols.geom]
    fps = 1.0 / np.median(np.diff(t)) if len(t) > 1 else 25.0
    fps = fps if np.isfinite(fps) and fps > 0 else 25.0
    width = max(1, int(round(GEOMETRY_SMOOTH_S * fps)))
    velocity = np.log1p(_speed(_moving_average(geom, width), t))
    rot, trans = cols.head_position(fp)
    head = _speed(rot, t) + _speed(trans, t)
    floor = jitter_floor(np.where(valid, head, np.nan))
    head_motion = np.log1p(np.maximum(head - floor, 0.0))
    values = {
        "prior_valence": prior[:, 0],
        "prior_arousal": prior[:, 1],
        "activation": cols.activation(fp),
        "velocity": velocity,
        "head_motion": head_motion,
        "mouth": cols.mouth_opening(fp),
    }
    for v in values.values():
        v[~valid] = np.nan
    yaw = fp[:, cols.yaw].astype(np.float64)
    conf = confidence(probs, bbox, yaw, fp[:, cols.tracking].astype(np.float64))
    conf = np.where(valid, np.nan_to_num(conf, nan=0.0), 0.0)
    return FaceCues(values, conf, valid)


def cue_column_names() -> tuple[str, ...]:
    """The ``facepose`` columns :func:`face_cues` reads, in the set's column order.

    The action-unit intensities, ``geom_*``, ``pose_R*``, ``pose_T*`` and ``confidence``
    (88 of 653): the default model's pass keeps only these
    (:attr:`vafusion.faces.facepose.FacePoseConfig.columns`).
    """
    wanted = {f"{a}_r" for a in AU_NAMES} | {f"pose_{k}{a}" for k in "RT" for a in "xyz"}
    wanted.add("confidence")
    return tuple(c for c in facepose_columns() if c in wanted or c.startswith("geom_"))


def confidence(
    probs: np.ndarray, bbox: np.ndarray, yaw: np.ndarray, tracking: np.ndarray
) -> np.ndarray:
    """(T,) per-frame confidence (see the module docstring)."""
    p = np.clip(np.asarray(probs, np.float64), 1e-8, 1.0)
    entropy = -(p * np.log(p)).sum(axis=1) / np.log(p.shape[1])
    certainty = 1.0 - 0.5 * entropy
    height = np.asarray(bbox, np.float64)[:, 3] - np.asarray(bbox, np.float64)[:, 1]
    size = np.clip((height - 32.0) / 64.0, 0.0, 1.0)
    frontal = np.clip((60.0 - np.degrees(np.abs(yaw))) / 30.0, 0.0, 1.0)
    return certainty * size * frontal * np.clip(tracking / 0.5, 0.0, 1.0)
