"""Inference over windows: per-frame predictions from overlapping windows averaged back."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vafusion.data.sequences import WindowData
from vafusion.data.windows import average_windows


@torch.no_grad()
def predict_frames(
    model: nn.Module, data: WindowData, batch_size: int = 512, device: str | torch.device = "cpu"
) -> list[np.ndarray]:
    """Per-frame predictions of every video in ``data``.

    Parameters
    ----------
    model : nn.Module
        A model taking a batch dict and returning (B, L, 2); put in eval mode here and
        restored afterwards.
    data : WindowData

    Returns
    -------
    list of numpy.ndarray, each shape (N_i, 2), float32
        In the order of ``data.videos``; overlapping window outputs averaged per frame.
    """
    was_training = model.training
    model.eval()
    device = torch.device(device)
    out = np.zeros((len(data), data.length, 2), dtype=np.float32)
    for a in range(0, len(data), batch_size):
        idx = np.arange(a, min(a + batch_size, len(data)))
        batch = {k: v.to(device, non_blocking=True) for k, v in data.batch(idx).items()}
        out[a : a + len(idx)] = model(batch).float().cpu().numpy()
    model.train(was_training)
    bounds = np.concatenate([[0], np.cumsum(data.window_counts)])
    return [
        average_windows(out[bounds[i] : bounds[i + 1]], v.n_frames, data.length, data.stride)
        if v.n_frames
        else np.zeros((0, 2), np.float32)
        for i, v in enumerate(data.videos)
    ]
