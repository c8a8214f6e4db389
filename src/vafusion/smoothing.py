"""Temporal smoothing of per-frame valence/arousal: the one smoother of training, evaluate
and predict.

The filter is a one-pole exponential filter driven by the *timestamps* (variable frame rate
is handled): a sample ``dt`` seconds after the previous one is blended with weight
``1 - exp(-dt / tau)``. Rows with a NaN are gaps: they are skipped and stay NaN, and a gap
longer than ``max_gap_s`` restarts the filter, so a new face episode does not inherit the
previous one's state.

* :func:`smooth_offline` runs the filter forward and then backward (zero phase: no lag;
  the right choice when the whole video is available: ``evaluate``, ``predict``).
* :class:`CausalSmoother` runs it forward only, one sample at a time (live mode).
* :class:`Smoothing` is the output post-processing a checkpoint carries: an optional
  annotation-lag shift (predictions delayed by ``lag_s``, because annotators react to what
  they see with a delay) and one time constant per dimension, both chosen on the
  development split by :func:`tune_smoothing`; ``evaluate`` and ``predict --model`` apply
  it with :meth:`Smoothing.apply`.

When the time step of a segment is constant (to 1 microsecond, the usual case) the pass is
run in blocks of matrix products (:func:`_ema_uniform`, the same recursion); otherwise by a
Python loop over the samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vafusion.errors import ConfigError

#: Time constants (seconds) tried by :func:`tune_smoothing`; 0 means no smoothing.
TAU_CANDIDATES = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)

#: Annotation lags (seconds) tried by :func:`tune_smoothing` when asked to.
LAG_CANDIDATES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.4, 2.0)

#: Name of the algorithm in checkpoints and ``metrics.json``.
METHOD = "zero-phase-exponential"


def frame_times(n: int, fps: float) -> np.ndarray:
    """Timestamps ``arange(n) / fps`` (seconds), for curves known only by frame index."""
    if not fps > 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    return np.arange(n, dtype=np.float64) / float(fps)


def _segments(t: np.ndarray, valid: np.ndarray, max_gap_s: float) -> list[np.ndarray]:
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(t[idx]) > max_gap_s) + 1
    return np.split(idx, breaks)


#: Samples per block of :func:`_ema_uniform` (a (256, 256) matrix per column).
_BLOCK = 256


def _ema_uniform(x: np.ndarray, dt: float, tau: np.ndarray) -> np.ndarray:
    """The forward pass of :func:`_ema` at a constant time step ``dt``, in blocks.

    Within a block of ``L`` samples starting from the state ``y0``,
    ``y[k] = b**(k+1) * y0 + sum_{j<=k} a * b**(k-j) * x[j]`` (``b = exp(-dt / tau)``,
    ``a = 1 - b``): one matrix product for all blocks, then a loop over the blocks only to
    carry the state. Written here rather than calling ``scipy.signal.lfilter`` because
    importing ``scipy.signal`` alone takes ~1.5 s, most of ``predict``'s smoothing time on
    a short clip. Every power of ``b`` is <= 1: no overflow, unlike a closed form over the
    whole curve.
    """
    n, dims = x.shape
    size = min(n, _BLOCK)
    k = np.arange(size)
    lag = k[:, None] - k[None, :]  # (L, L): output index - input index
    y = np.empty_like(x)
    for d in range(dims):
        b = float(np.exp(-dt / tau[d]))
        weights = np.where(lag >= 0, (1.0 - b) * b ** np.maximum(lag, 0), 0.0)  # (L, L)
        blocks = np.zeros(-(-n // size) * size)
        blocks[:n] = x[:, d]
        local = blocks.reshape(-1, size) @ weights.T  # (blocks, L): zero initial state
        carry = b ** (k + 1.0)  # (L,): weight of the state entering the block
        state = float(x[0, d])  # y[-1] = x[0]
        for row in local:
            row += carry * state
            state = float(row[-1])
        # each output is a convex combination of the inputs; the sums of the weights are
        # 1 only to rounding: keep it inside the inputs' range exactly, as the recursion does
        y[:, d] = np.clip(local.ravel()[:n], x[:, d].min(), x[:, d].max())
    return y


def _ema(x: np.ndarray, t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """One forward pass over a gap-free segment; ``x`` (T, D), ``tau`` (D,) > 0.

    ``y[0] = x[0]``, ``y[i] = y[i-1] + (1 - exp(-dt_i / tau)) (x[i] - y[i-1])``.
    """
    dt = np.abs(np.diff(t))
    if len(dt) and float(dt.max() - dt.min()) <= 1e-6:
        return _ema_uniform(x, float(dt.mean()), tau)
    y = np.empty_like(x)
    y[0] = x[0]
    alpha = 1.0 - np.exp(-dt[:, None] / tau[None, :])
    for i in range(1, len(x)):
        y[i] = y[i - 1] + alpha[i - 1] * (x[i] - y[i - 1])
    return y


def smooth_offline(
    values: np.ndarray,
    timestamps: np.ndarray,
    tau_s: float | Sequence[float] = 0.3,
    max_gap_s: float = 0.5,
) -> np.ndarray:
    """Zero-phase exponential smoothing of a curve with gaps.

    Parameters
    ----------
    values : numpy.ndarray, shape (T,) or (T, D)
        Per-frame values; NaN rows are gaps (a row is a gap if any column is NaN).
    timestamps : numpy.ndarray, shape (T,)
        Seconds, increasing.
    tau_s : float or sequence of D floats
        Time constant of each pass in seconds, one for all columns or one per column
        (0 leaves that column unchanged).
    max_gap_s : float
        Gaps longer than this split the curve into independently smoothed segments.

    Returns
    -------
    numpy.ndarray, same shape as ``values``, float64
        Smoothed values; NaN exactly where the input row was NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    t = np.asarray(timestamps, dtype=np.float64)
    if t.shape != (len(x),):
        raise ConfigError(f"timestamps shape {t.shape} does not match {len(x)} values")
    tau = np.broadcast_to(np.asarray(tau_s, dtype=np.float64), (x.shape[1],))
    if (tau < 0).any() or max_gap_s < 0:
        raise ConfigError("smoothing tau_s and max_gap_s must be >= 0")
    out = np.full_like(x, np.nan)
    valid = ~np.isnan(x).any(axis=1)
    on = tau > 0
    for seg in _segments(t, valid, max_gap_s):
        xs, ts = x[seg], t[seg]
        if on.any() and len(seg) > 1:
            xs = xs.copy()
            fwd = _ema(xs[:, on], ts, tau[on])
            xs[:, on] = _ema(fwd[::-1], ts[::-1], tau[on])[::-1]
        out[seg] = xs
    return out[:, 0] if squeeze else out


class CausalSmoother:
    """Forward-only exponential smoothing for streams (one sample at a time).

    Parameters
    ----------
    tau_s : float or sequence of float
        Time constant in seconds, one for all dimensions or one per dimension (0: none).
    max_gap_s : float
        A gap longer than this resets the state.

    Examples
    --------
    >>> s = CausalSmoother(tau_s=0.3)
    >>> s.update(0.0, [1.0, 0.0])
    array([1., 0.])
    """

    def __init__(self, tau_s: float | Sequence[float] = 0.3, max_gap_s: float = 0.5) -> None:
        self.tau_s = np.asarray(tau_s, dtype=np.float64)
        self.max_gap_s = max_gap_s
        self._t: float | None = None
        self._y: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the state (next sample starts a new segment)."""
        self._t = None
        self._y = None

    def update(self, t: float, value) -> np.ndarray:
        """Feed the sample ``value`` (shape (D,)) at time ``t``; return the smoothed value."""
        x = np.asarray(value, dtype=np.float64)
        if np.isnan(x).any():
            if self._t is not None and t - self._t > self.max_gap_s:
                self.reset()
            return np.full_like(x, np.nan)
        if self._y is None or self._t is None or t - self._t > self.max_gap_s:
            self._y = x.copy()
        else:
            tau = np.broadcast_to(self.tau_s, x.shape)
            dt = max(t - self._t, 0.0)
            with np.errstate(divide="ignore"):
                alpha = np.where(tau > 0, 1.0 - np.exp(-dt / np.where(tau > 0, tau, 1.0)), 1.0)
            self._y = self._y + alpha * (x - self._y)
        self._t = t
        return self._y.copy()


@dataclass(frozen=True)
class Smoothing:
    """The output smoothing of a model: one time constant per dimension.

    Attributes
    ----------
    tau_s : tuple of float
        ``(valence, arousal)`` time constants in seconds of the zero-phase filter
        (0 = that dimension is not smoothed).
    max_gap_s : float
        Longer gaps (NaN rows) restart the filter.
    lag_s : float
        Predictions are delayed by this much before smoothing: the value at time ``t`` is
        the model's output at ``t - lag_s`` (linear interpolation between frames; the
        first output is held before it). 0 = no shift.
    """

    tau_s: tuple[float, float] = (0.0, 0.0)
    max_gap_s: float = 0.5
    lag_s: float = 0.0

    def __post_init__(self) -> None:
        tau = tuple(float(x) for x in self.tau_s)
        if len(tau) != 2 or not all(math.isfinite(x) and x >= 0 for x in tau):
            raise ConfigError(f"smoothing tau_s must be two finite values >= 0, got {tau}")
        if not (math.isfinite(self.max_gap_s) and self.max_gap_s >= 0):
            raise ConfigError(f"smoothing max_gap_s must be >= 0, got {self.max_gap_s}")
        if not (math.isfinite(self.lag_s) and self.lag_s >= 0):
            raise ConfigError(f"smoothing lag_s must be >= 0, got {self.lag_s}")
        object.__setattr__(self, "tau_s", tau)

    @property
    def is_identity(self) -> bool:
        """True when applying it changes nothing."""
        return all(x == 0 for x in self.tau_s) and self.lag_s == 0

    def apply(self, values: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
        """Lag shift then zero-phase smoothing of ``values`` (T, 2) at ``timestamps`` (T,).

        Returns
        -------
        numpy.ndarray, shape (T, 2), float32
            NaN rows stay NaN.
        """
        x = delay(values, timestamps, self.lag_s)
        if all(v == 0 for v in self.tau_s):
            return x.astype(np.float32)
        return smooth_offline(x, timestamps, self.tau_s, self.max_gap_s).astype(np.float32)

    def causal(self) -> CausalSmoother:
        """A forward-only smoother with these time constants (live mode)."""
        return CausalSmoother(self.tau_s, self.max_gap_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON / ``weights_only``-compatible form (saved in checkpoints)."""
        return {
            "method": METHOD,
            "tau_s": list(self.tau_s),
            "max_gap_s": self.max_gap_s,
            "lag_s": self.lag_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Smoothing:
        """Inverse of :meth:`to_dict`; None (checkpoints before smoothing) -> identity."""
        if not data:
            return cls()
        if data.get("method", METHOD) != METHOD:
            raise ConfigError(f"unknown smoothing method {data.get('method')!r}")
        return cls(
            tuple(data["tau_s"]), float(data.get("max_gap_s", 0.5)), float(data.get("lag_s", 0.0))
        )


def delay(values: np.ndarray, timestamps: np.ndarray, lag_s: float) -> np.ndarray:
    """Delay a curve by ``lag_s`` seconds: ``out(t) = values(t - lag_s)``.

    Linear interpolation between the non-NaN rows; before the first one its value is held.
    NaN rows stay NaN.

    Parameters
    ----------
    values : numpy.ndarray, shape (T,) or (T, D)
    timestamps : numpy.ndarray, shape (T,)

    Returns
    -------
    numpy.ndarray, same shape, float64
    """
    x = np.asarray(values, dtype=np.float64)
    if lag_s == 0 or len(x) == 0:
        return x.copy()
    squeeze = x.ndim == 1
    x2 = x[:, None] if squeeze else x
    t = np.asarray(timestamps, dtype=np.float64)
    ok = ~np.isnan(x2).any(axis=1)
    out = np.full_like(x2, np.nan)
    if ok.any():
        for d in range(x2.shape[1]):
            out[ok, d] = np.interp(t[ok] - lag_s, t[ok], x2[ok, d])
    return out[:, 0] if squeeze else out


def tune_smoothing(
    preds: list[np.ndarray],
    labels: list[np.ndarray],
    timestamps: list[np.ndarray],
    candidates: tuple[float, ...] = TAU_CANDIDATES,
    max_gap_s: float = 0.5,
    lags: tuple[float, ...] = (0.0,),
) -> Smoothing:
    """Lag and time constants maximising the split-level CCC of the post-processed predictions.

    First the lag (one for both dimensions) maximising the mean CCC of the delayed raw
    predictions, then, on the delayed predictions, the time constant of each dimension.
    Tune on the development split (never on the split whose CCC is reported).

    Parameters
    ----------
    preds, labels : list of numpy.ndarray, each shape (N_i, 2)
        Predictions and targets per video (NaN targets ignored).
    timestamps : list of numpy.ndarray, each shape (N_i,)
        Seconds of each video's frames.
    candidates : tuple of float
        Time constants tried (seconds); ``(0.0,)`` = no smoothing.
    lags : tuple of float
        Annotation lags tried (seconds); ``(0.0,)`` = no shift, :data:`LAG_CANDIDATES` to
        tune it.

    Returns
    -------
    Smoothing
    """
    from vafusion.train.metrics import ccc

    if not preds:
        return Smoothing(max_gap_s=max_gap_s)
    y = np.concatenate(labels)
    lag_scores = []
    for lag in lags:
        p = np.concatenate([delay(pr, t, lag) for pr, t in zip(preds, timestamps, strict=True)])
        s = np.nanmean([ccc(p[:, d], y[:, d]) for d in range(2)])
        lag_scores.append(-np.inf if np.isnan(s) else s)
    lag = float(lags[int(np.argmax(lag_scores))])
    preds = [delay(pr, t, lag) for pr, t in zip(preds, timestamps, strict=True)]
    best: list[float] = []
    for d in range(2):
        scores = []
        for tau in candidates:
            pairs = zip(preds, timestamps, strict=True)
            p = np.concatenate([smooth_offline(pr[:, d], t, tau, max_gap_s) for pr, t in pairs])
            s = ccc(p, y[:, d])
            scores.append(-np.inf if np.isnan(s) else s)
        best.append(float(candidates[int(np.argmax(scores))]))
    return Smoothing((best[0], best[1]), max_gap_s, lag)
