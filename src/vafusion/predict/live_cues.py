"""The default model in live mode: the same face cues and fusion, from past frames only.

Offline (:mod:`vafusion.predict.face_cues`, :mod:`vafusion.predict.combine`) every filter
may look both ways in time. Live, each processed frame gets its value at once, so every
step is made causal, per face track:

========================  ==========================================  ===========================
step                      offline                                     live (this module)
========================  ==========================================  ===========================
running neutral face      reservoir medians, refreshed per chunk of   same reservoir, medians
                          256 frames (looks up to 256 frames ahead)   refreshed every
                                                                      :data:`NEUTRAL_REFRESH`
                                                                      frames (sooner while it
                                                                      fills), past frames only
geometry moving average   centred 0.2 s                               trailing 0.2 s
velocity, head speed      centred difference over 0.2 s               backward difference over
                                                                      0.2 s
head-motion jitter floor  10th percentile of the whole track          of the track's last
                                                                      :data:`JITTER_HISTORY`
                                                                      processed frames
uncertainty pull          median of a centred 10 s window             of the last 10 s
smoothing                 zero-phase pair, ``tau_s`` per pass         one forward pass, ``tau_s``
annotation lag            optional ``lag_s`` shift                    not applied
voice                     speaking face and faceless frames           not used (the live decoder
                                                                      reads the video stream
                                                                      only)
========================  ==========================================  ===========================

So live values trail the offline ones by about 0.1-0.2 s on the speed cues plus the
smoothing delay, and the first seconds of a track have a neutral face built from those
seconds only (its first frame is its own neutral: action units start at 0). The
constants, references and mapping are those of the offline model
(:mod:`vafusion.predict.fusion`). Speeds use the frames' timestamps, so frames dropped by
the live loop do not change their units.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from vafusion.faces.columns import facepose_columns
from vafusion.faces.facepose import (
    FacePoseConfig,
    TrackState,
    add_neutral_samples,
    facepose_rows,
    measure_meshes,
    neutral_of,
)
from vafusion.faces.types import FaceObservation
from vafusion.predict import fusion
from vafusion.predict.circumplex import probabilities_to_va
from vafusion.predict.combine import arousal_from_cues
from vafusion.predict.face_cues import (
    GEOMETRY_SMOOTH_S,
    MAX_JITTER_FLOOR,
    SPEED_LAG_S,
    CueColumns,
    confidence,
    jitter_floor,
)
from vafusion.smoothing import CausalSmoother

#: Frames between two refreshes of a track's neutral (a median over up to 300 meshes costs
#: ~10 ms; every 30 frames is ~0.3 ms per frame). While the reservoir holds fewer samples,
#: it is refreshed every that many frames (every frame at the start).
NEUTRAL_REFRESH = 30
#: Head speeds kept per track for its jitter floor (60 s at 25 fps).
JITTER_HISTORY = 1500
#: Neutral samples a track needs before its activation is used (10 samples at the default
#: stride of 3 = 30 frames, ~1.2 s at 25 fps): earlier, the neutral is built from the
#: same few frames it is compared with, so activation reads ~0 whatever the face does.
MIN_NEUTRAL_SAMPLES = 10
#: Head speeds a track needs before its own jitter floor replaces :data:`MAX_JITTER_FLOOR`.
MIN_JITTER_SAMPLES = 25
#: A track not seen for this long (s) is forgotten (a face coming back later starts again).
FORGET_AFTER_S = 60.0


@dataclass
class LiveEstimate:
    """One face's live output on one frame.

    Attributes
    ----------
    face_id : int
    va : numpy.ndarray, shape (2,)
        Smoothed valence and arousal (NaN when not available).
    confidence : float or None
        In [0, 1] (the offline ``confidence`` column's definition); None when the model
        has no confidence (``circumplex``).
    """

    face_id: int
    va: np.ndarray
    confidence: float | None = None


class TimeWindow:
    """The last ``span_s`` seconds of a vector series (for causal filters).

    Hand-written: pandas' rolling windows work on whole series, not one sample at a time.
    """

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self.t: deque[float] = deque()
        self.x: deque[np.ndarray] = deque()

    def push(self, t: float, x: np.ndarray) -> None:
        """Append ``x`` (shape (D,)) at time ``t`` and drop samples older than the span."""
        self.t.append(t)
        self.x.append(np.asarray(x, np.float64))
        while self.t and t - self.t[0] > self.span_s:
            self.t.popleft()
            self.x.popleft()

    def mean(self) -> np.ndarray:
        """Mean over the window, shape (D,)."""
        return np.mean(np.stack(self.x), axis=0)

    def at(self, t: float) -> np.ndarray:
        """Value at time ``t`` interpolated linearly between samples, held at the ends
        (as the offline speeds hold a track's first value), shape (D,)."""
        times = np.fromiter(self.t, np.float64, len(self.t))
        if t <= times[0]:
            return self.x[0]
        k = int(np.searchsorted(times, t))
        if k >= len(times):
            return self.x[-1]
        w = (t - times[k - 1]) / max(times[k] - times[k - 1], 1e-9)
        return (1.0 - w) * self.x[k - 1] + w * self.x[k]


def backward_speed(window: TimeWindow, t: float, x: np.ndarray, lag_s: float) -> float:
    """``|x(t) - x(t - lag)| / lag`` with the past value from ``window`` (pushed first)."""
    return float(np.linalg.norm(x - window.at(t - lag_s)) / lag_s)


class LiveCueTrack:
    """Causal cue and fusion state of one face track (see the module docstring).

    Parameters
    ----------
    model_config : DefaultModelConfig
    facepose_config : FacePoseConfig
        The neutral reservoir's settings (the offline pass's defaults).
    """

    def __init__(self, model_config, facepose_config: FacePoseConfig) -> None:
        self.config = model_config
        self.facepose = facepose_config
        self.neutral_state = TrackState()
        self.neutral: tuple[np.ndarray, np.ndarray] | None = None
        self.frames = 0
        self._since_refresh = 0
        self._geometry = TimeWindow(GEOMETRY_SMOOTH_S)
        self._smoothed_geometry = TimeWindow(SPEED_LAG_S * 1.5)
        self._rotation = TimeWindow(SPEED_LAG_S * 1.5)
        self._translation = TimeWindow(SPEED_LAG_S * 1.5)
        self._head_speeds: deque[float] = deque(maxlen=JITTER_HISTORY)
        self._recent = TimeWindow(fusion.MEDIAN_WINDOW_S)  # (v, a, confidence)
        self._smoother = CausalSmoother(model_config.tau_s, model_config.max_gap_s)

    def update(
        self, t: float, probs: np.ndarray, face: FaceObservation, size: tuple[int, int]
    ) -> tuple[np.ndarray, float, dict[str, float]]:
        """Feed one frame of this face.

        Parameters
        ----------
        t : float
            Timestamp (s), increasing.
        probs : numpy.ndarray, shape (7,)
            Expression class probabilities of the face's crop.
        face : FaceObservation
        size : tuple of int
            Original frame ``(width, height)``.

        Returns
        -------
        va : numpy.ndarray, shape (2,)
            Smoothed valence and arousal.
        confidence : float
        cues : dict of str to float
            The raw cues of this frame (``FACE_CUES`` names).
        """
        row = self._facepose_row(face, size)
        cols = _cue_columns()
        cues = self._cues(t, probs, row, cols)
        conf = float(
            np.nan_to_num(
                confidence(
                    probs[None],
                    np.asarray(face.bbox, np.float64)[None],
                    row[None, cols.yaw].astype(np.float64),
                    row[None, cols.tracking].astype(np.float64),
                )[0]
            )
        )
        zs = {
            c: np.array([fusion.zscore(cues[c], fusion.FACE_REFERENCE[c])])
            for c in fusion.FACE_AROUSAL_CUES
        }
        arousal = float(arousal_from_cues(zs, {})[0][0])
        raw = np.array([cues["prior_valence"], arousal])
        self._recent.push(t, np.array([raw[0], raw[1], conf]))
        pulled = conf * raw + (1.0 - conf) * self._running_median()
        return self._smoother.update(t, pulled), conf, cues

    def _facepose_row(self, face: FaceObservation, size: tuple[int, int]) -> np.ndarray:
        """All facepose columns of this frame against the running neutral, shape (D,)."""
        m = measure_meshes(np.asarray(face.landmarks)[None], size, self.facepose)
        add_neutral_samples(self.neutral_state, m.norm, m.measures, self.facepose, self.frames)
        self.frames += 1
        self._since_refresh += 1
        due = min(NEUTRAL_REFRESH, len(self.neutral_state.neutral_meshes))
        if self.neutral is None or self._since_refresh >= due:
            self.neutral = neutral_of(self.neutral_state, m.norm, m.measures)
            self._since_refresh = 0
        return facepose_rows(m, np.array([face.score]), *self.neutral)[0]

    def _cues(self, t: float, probs: np.ndarray, row: np.ndarray, cols: CueColumns) -> dict:
        prior = probabilities_to_va(np.asarray(probs, np.float64)[None], self.config.circumplex)
        self._geometry.push(t, row[cols.geom])
        geometry = self._geometry.mean()
        self._smoothed_geometry.push(t, geometry)
        rot, trans = (x[0] for x in cols.head_position(row[None]))
        self._rotation.push(t, rot)
        self._translation.push(t, trans)
        velocity = head_motion = np.nan
        # the speeds need positions SPEED_LAG_S apart: a track's first 0.2 s has none
        if t - self._rotation.t[0] >= SPEED_LAG_S * 0.9:
            velocity = np.log1p(backward_speed(self._smoothed_geometry, t, geometry, SPEED_LAG_S))
            head = backward_speed(self._rotation, t, rot, SPEED_LAG_S) + backward_speed(
                self._translation, t, trans, SPEED_LAG_S
            )
            self._head_speeds.append(head)
            floor = MAX_JITTER_FLOOR
            if len(self._head_speeds) >= MIN_JITTER_SAMPLES:
                floor = jitter_floor(np.fromiter(self._head_speeds, np.float64))
            head_motion = np.log1p(max(head - floor, 0.0))
        activation = np.nan
        if len(self.neutral_state.neutral_meshes) >= MIN_NEUTRAL_SAMPLES:
            activation = float(cols.activation(row[None])[0])
        return {
            "prior_valence": float(prior[0, 0]),
            "prior_arousal": float(prior[0, 1]),
            "activation": activation,
            "velocity": float(velocity),
            "head_motion": float(head_motion),
        }

    def _running_median(self) -> np.ndarray:
        """(2,) median valence/arousal of the last 10 s's confident frames (else all)."""
        recent = np.stack(self._recent.x)
        confident = recent[recent[:, 2] >= fusion.CONFIDENT]
        return np.median(confident if len(confident) else recent, axis=0)[:2]


@functools.lru_cache(maxsize=1)
def _cue_columns() -> CueColumns:
    """Cue inputs among all facepose columns (built once)."""
    return CueColumns.of(facepose_columns())


class LiveSession:
    """Per-stream live state of a model: one state per face track.

    :meth:`step` classifies the frame's face crops in one batch and hands each face to its
    track's state (:meth:`_new_state`, :meth:`_estimate` of a subclass). A track not seen
    for :data:`FORGET_AFTER_S` is forgotten, so a long stream with many passing faces keeps
    a bounded state.

    Parameters
    ----------
    model : CircumplexModel or DefaultModel
    """

    def __init__(self, model) -> None:
        self.model = model
        self.tracks: dict[int, Any] = {}
        self._last_seen: dict[int, float] = {}

    def step(
        self, t: float, faces: list[FaceObservation], size: tuple[int, int]
    ) -> list[LiveEstimate]:
        """Estimates of the faces of one frame (empty list: no face).

        Parameters
        ----------
        t : float
            The frame's timestamp (s).
        faces : list of FaceObservation
        size : tuple of int
            Original frame ``(width, height)``.
        """
        for fid in [f for f, seen in self._last_seen.items() if t - seen > FORGET_AFTER_S]:
            del self.tracks[fid], self._last_seen[fid]
        if not faces:
            return []
        probs = self.model.classify(np.stack([f.aligned for f in faces]))
        out = []
        for face, p in zip(faces, probs, strict=True):
            state = self.tracks.get(face.face_id)
            if state is None:
                state = self.tracks[face.face_id] = self._new_state()
            self._last_seen[face.face_id] = t
            out.append(self._estimate(state, t, p, face, size))
        return out

    def _new_state(self) -> Any:
        raise NotImplementedError

    def _estimate(self, state, t: float, probs, face, size) -> LiveEstimate:
        raise NotImplementedError


class CueLiveSession(LiveSession):
    """Live state of the default model for one stream: a :class:`LiveCueTrack` per face.

    Parameters
    ----------
    model : DefaultModel
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        self.facepose = FacePoseConfig()

    def _new_state(self) -> LiveCueTrack:
        return LiveCueTrack(self.model.config, self.facepose)

    def _estimate(self, state: LiveCueTrack, t, probs, face, size) -> LiveEstimate:
        va, conf, _ = state.update(t, probs, face, size)
        return LiveEstimate(face.face_id, va, conf)


class PriorLiveSession(LiveSession):
    """Live state of the circumplex model: the prior, smoothed causally per face.

    Parameters
    ----------
    model : CircumplexModel
    """

    def _new_state(self) -> CausalSmoother:
        return CausalSmoother(self.model.config.tau_s, self.model.config.max_gap_s)

    def _estimate(self, state: CausalSmoother, t, probs, face, size) -> LiveEstimate:
        va = self.model.probabilities_to_va(np.asarray(probs)[None])[0]
        return LiveEstimate(face.face_id, state.update(t, va))
