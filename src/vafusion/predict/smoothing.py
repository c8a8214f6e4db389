"""Temporal smoothing of per-frame valence/arousal that respects time and face gaps.

Both smoothers are one-pole exponential filters driven by the *timestamps* (so variable
frame rate is handled): a sample ``dt`` seconds after the previous one is blended with
weight ``1 - exp(-dt / tau)``. Frames without a face (NaN) are skipped and stay NaN; a gap
longer than ``max_gap_s`` restarts the filter so a new face episode does not inherit the
previous one's state.

* :func:`smooth_offline` runs the filter forward and then backward (zero phase: no lag,
  the right choice when the whole video is available).
* :class:`CausalSmoother` runs it forward only, one frame at a time (live mode).
"""

from __future__ import annotations

import math

import numpy as np


def _segments(t: np.ndarray, valid: np.ndarray, max_gap_s: float) -> list[np.ndarray]:
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(t[idx]) > max_gap_s) + 1
    return np.split(idx, breaks)


def _ema(x: np.ndarray, t: np.ndarray, tau: float) -> np.ndarray:
    y = np.empty_like(x)
    y[0] = x[0]
    alpha = 1.0 - np.exp(-np.abs(np.diff(t)) / tau)
    for i in range(1, len(x)):
        y[i] = y[i - 1] + alpha[i - 1] * (x[i] - y[i - 1])
    return y


def smooth_offline(
    values: np.ndarray, timestamps: np.ndarray, tau_s: float = 0.3, max_gap_s: float = 0.5
) -> np.ndarray:
    """Zero-phase exponential smoothing of a curve with gaps.

    Parameters
    ----------
    values : numpy.ndarray, shape (T,) or (T, D)
        Per-frame values; NaN rows are gaps (a row is a gap if any column is NaN).
    timestamps : numpy.ndarray, shape (T,)
        Seconds, increasing.
    tau_s : float
        Time constant of each pass in seconds (0 disables smoothing).
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
    out = np.full_like(x, np.nan)
    valid = ~np.isnan(x).any(axis=1)
    for seg in _segments(t, valid, max_gap_s):
        xs, ts = x[seg], t[seg]
        if tau_s > 0 and len(seg) > 1:
            fwd = _ema(xs, ts, tau_s)
            xs = _ema(fwd[::-1], ts[::-1], tau_s)[::-1]
        out[seg] = xs
    return out[:, 0] if squeeze else out


class CausalSmoother:
    """Forward-only exponential smoothing for streams (one sample at a time).

    Parameters
    ----------
    tau_s : float
        Time constant in seconds (0 disables smoothing).
    max_gap_s : float
        A gap longer than this resets the state.

    Examples
    --------
    >>> s = CausalSmoother(tau_s=0.3)
    >>> s.update(0.0, [1.0, 0.0])
    array([1., 0.])
    """

    def __init__(self, tau_s: float = 0.3, max_gap_s: float = 0.5) -> None:
        self.tau_s = tau_s
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
        elif self.tau_s > 0:
            alpha = 1.0 - math.exp(-max(t - self._t, 0.0) / self.tau_s)
            self._y = self._y + alpha * (x - self._y)
        else:
            self._y = x.copy()
        self._t = t
        return self._y.copy()
