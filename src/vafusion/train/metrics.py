"""Concordance Correlation Coefficient (CCC), the ABAW valence-arousal metric.

``CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)`` with biased (population)
variances and covariance, computed over *all* frames of a split concatenated (ABAW's rule).
Frames whose target is NaN or the Aff-Wild2 "no annotation" value -5 are excluded, as are
frames whose prediction is NaN.
"""

from __future__ import annotations

import numpy as np
import torch

#: Aff-Wild2's marker for a frame without a valid annotation.
INVALID_LABEL = -5.0


def valid_label_mask(y_true: np.ndarray) -> np.ndarray:
    """Boolean mask of usable targets (finite and not -5).

    Parameters
    ----------
    y_true : numpy.ndarray, shape (N,) or (N, K)

    Returns
    -------
    numpy.ndarray of bool, same shape as ``y_true``
    """
    y = np.asarray(y_true, dtype=np.float64)
    return np.isfinite(y) & (y != INVALID_LABEL)


def ccc(y_pred: np.ndarray, y_true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """CCC of one dimension over the frames where target and prediction are valid.

    Parameters
    ----------
    y_pred, y_true : numpy.ndarray, shape (N,)
        Predictions and targets; targets equal to -5 or NaN are excluded.
    mask : numpy.ndarray of bool, shape (N,), optional
        Extra mask of frames to use.

    Returns
    -------
    float
        CCC in [-1, 1]; NaN when no frame is usable; 0 when both series are constant and
        differ (the denominator is then the squared mean difference); 1 when both are equal
        constants.
    """
    x = np.asarray(y_pred, dtype=np.float64).ravel()
    y = np.asarray(y_true, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"prediction shape {x.shape} != target shape {y.shape}")
    keep = valid_label_mask(y) & np.isfinite(x)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool).ravel()
    x, y = x[keep], y[keep]
    if x.size == 0:
        return float("nan")
    mx, my = x.mean(), y.mean()
    vx, vy = ((x - mx) ** 2).mean(), ((y - my) ** 2).mean()
    cov = ((x - mx) * (y - my)).mean()
    den = vx + vy + (mx - my) ** 2
    if den == 0.0:
        return 1.0
    return float(2.0 * cov / den)


def ccc_va(y_pred: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """Valence, arousal and mean CCC.

    Parameters
    ----------
    y_pred, y_true : numpy.ndarray, shape (N, 2)
        Columns ``(valence, arousal)``.

    Returns
    -------
    dict
        ``ccc_valence``, ``ccc_arousal``, ``ccc_mean`` (the ABAW score P).
    """
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    v = ccc(y_pred[:, 0], y_true[:, 0])
    a = ccc(y_pred[:, 1], y_true[:, 1])
    return {"ccc_valence": v, "ccc_arousal": a, "ccc_mean": (v + a) / 2.0}


def ccc_moments_torch(
    y_pred: torch.Tensor, y_true: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Weighted sums needed by the CCC: ``n, Σx, Σy, Σx², Σy², Σxy`` per output dimension.

    Sums (not means) so they can be all-reduced across processes before :func:`ccc_from_moments`.

    Parameters
    ----------
    y_pred, y_true : torch.Tensor, shape (..., K)
    weight : torch.Tensor, shape (...,) or (..., K)
        1 for frames to use, 0 otherwise (targets under weight 0 may be NaN).

    Returns
    -------
    torch.Tensor, shape (6, K)
    """
    w = weight if weight.dim() == y_pred.dim() else weight.unsqueeze(-1).expand_as(y_pred)
    w = w.to(y_pred.dtype)
    x = y_pred.reshape(-1, y_pred.shape[-1])
    y = torch.nan_to_num(y_true, nan=0.0).reshape_as(x)
    w = w.reshape_as(x)
    x = x * w  # zero out unused frames (keeps NaN-free gradients)
    y = y * w
    return torch.stack(
        [w.sum(0), x.sum(0), y.sum(0), (x * x).sum(0), (y * y).sum(0), (x * y).sum(0)]
    )


def ccc_from_moments(m: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CCC per dimension from :func:`ccc_moments_torch` sums.

    Parameters
    ----------
    m : torch.Tensor, shape (6, K)

    Returns
    -------
    torch.Tensor, shape (K,)
    """
    n = m[0].clamp_min(1.0)
    mx, my = m[1] / n, m[2] / n
    vx = m[3] / n - mx * mx
    vy = m[4] / n - my * my
    cov = m[5] / n - mx * my
    return 2.0 * cov / (vx + vy + (mx - my) ** 2 + eps)


def ccc_torch(
    y_pred: torch.Tensor, y_true: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Differentiable CCC per output dimension (population moments).

    Parameters
    ----------
    y_pred, y_true : torch.Tensor, shape (..., K)
    weight : torch.Tensor, shape (...,) or (..., K), optional
        Frame weights (0/1); default: targets that are finite and not -5.

    Returns
    -------
    torch.Tensor, shape (K,)
    """
    if weight is None:
        weight = torch.isfinite(y_true) & (y_true != INVALID_LABEL)
    return ccc_from_moments(ccc_moments_torch(y_pred, y_true, weight))
