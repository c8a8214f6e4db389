"""Optional temporal smoothing of per-frame predictions, tuned on validation data only.

A centred moving average of odd width ``k`` per dimension (``k = 1`` means none), applied
within each video; windows shrink at the video ends so the first and last frames are
averaged over the frames that exist.
"""

from __future__ import annotations

import numpy as np

from vafusion.train.metrics import ccc

#: Widths tried by :func:`tune_smoothing` (frames).
CANDIDATES = (1, 3, 5, 9, 15, 25, 41, 61)


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0.

    Parameters
    ----------
    x : numpy.ndarray, shape (N,) or (N, K)
    width : int
        Odd window width; 1 returns ``x`` unchanged.

    Returns
    -------
    numpy.ndarray, same shape as ``x``
    """
    if width <= 1 or len(x) == 0:
        return np.asarray(x)
    x = np.asarray(x, dtype=np.float64)
    squeeze = x.ndim == 1
    x2 = x[:, None] if squeeze else x
    half = width // 2
    c = np.concatenate([np.zeros((1, x2.shape[1])), np.cumsum(x2, axis=0)])
    n = len(x2)
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    out = (c[hi] - c[lo]) / (hi - lo)[:, None]
    return (out[:, 0] if squeeze else out).astype(np.float32)


def smooth(pred: np.ndarray, widths: tuple[int, int]) -> np.ndarray:
    """Smooth a (N, 2) prediction with one width per dimension."""
    out = np.empty_like(np.asarray(pred, dtype=np.float32))
    for d, w in enumerate(widths):
        out[:, d] = moving_average(pred[:, d], int(w))
    return out


def tune_smoothing(
    preds: list[np.ndarray], labels: list[np.ndarray], candidates: tuple[int, ...] = CANDIDATES
) -> tuple[int, int]:
    """Width per dimension maximising the split-level CCC of the smoothed predictions.

    Parameters
    ----------
    preds, labels : list of numpy.ndarray, each shape (N_i, 2)
        Validation predictions and targets per video (NaN / -5 targets ignored).
    """
    y = np.concatenate(labels) if labels else np.zeros((0, 2))
    best: list[int] = []
    for d in range(2):
        scores = []
        for w in candidates:
            p = np.concatenate([moving_average(pr[:, d], w) for pr in preds]) if preds else y[:, d]
            s = ccc(p, y[:, d])
            scores.append(-np.inf if np.isnan(s) else s)
        best.append(int(candidates[int(np.argmax(scores))]))
    return best[0], best[1]
