"""Training losses of the masked, DDP-exact kind (see :mod:`vafusion.train.loop`)."""

from __future__ import annotations

import torch

from vafusion.models.layers import all_reduce_sum
from vafusion.train.metrics import ccc_from_moments, ccc_moments_torch


def compute_loss(
    pred: torch.Tensor, batch: dict[str, torch.Tensor], kind: str, group: object | None
) -> torch.Tensor:
    """Masked loss of the *global* batch from (all-reduced) sums.

    ``pred`` (B, L, 2); ``batch["y"]`` (B, L, 2); ``batch["y_mask"]`` (B, L, 2).
    """
    y, w = batch["y"], batch["y_mask"].to(pred.dtype)
    parts = [((pred - y) ** 2 * w).sum().reshape(1), w.sum().reshape(1)]
    if "ccc" in kind:
        parts.append(ccc_moments_torch(pred, y, w).reshape(-1))
    sums = torch.cat(parts)
    sums = all_reduce_sum(sums, group)
    loss = pred.new_zeros(())
    if "mse" in kind:
        loss = loss + sums[0] / sums[1].clamp_min(1.0)
    if "ccc" in kind:
        loss = loss + (1.0 - ccc_from_moments(sums[2:].reshape(6, 2)).mean())
    return loss
