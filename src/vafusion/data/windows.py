"""Sequence windows: the paper's 15-frame windows with 5 frames of overlap (stride 10).

A video of ``n`` frames is covered by windows starting at ``0, stride, 2*stride, ...``; the
last window is the first one that reaches the end of the video. It may run past the end:
those frames are padding, masked out of every loss, batch statistic and metric. Predictions
of overlapping windows are averaged back to one value per frame
(:func:`average_windows`).
"""

from __future__ import annotations

import numpy as np

from vafusion.errors import ConfigError


def check_window(length: int, stride: int) -> None:
    """Raise :class:`ConfigError` unless ``1 <= stride <= length``."""
    if length < 1:
        raise ConfigError(f"window length must be >= 1, got {length}")
    if not 1 <= stride <= length:
        raise ConfigError(f"window stride must be in [1, {length}] (no gaps), got {stride}")


def n_windows(n_frames: int, length: int = 15, stride: int = 10) -> int:
    """Number of windows covering ``n_frames`` frames (0 for an empty video).

    ``1 + ceil(max(n - length, 0) / stride)``.
    """
    check_window(length, stride)
    if n_frames <= 0:
        return 0
    return 1 + -(-max(n_frames - length, 0) // stride)


def window_starts(n_frames: int, length: int = 15, stride: int = 10) -> np.ndarray:
    """First frame of each window.

    Returns
    -------
    numpy.ndarray, shape (W,), int64
        ``arange(W) * stride``; the last window may extend past ``n_frames`` (padding).
    """
    return np.arange(n_windows(n_frames, length, stride), dtype=np.int64) * stride


def window_frame_index(n_frames: int, length: int = 15, stride: int = 10) -> np.ndarray:
    """Frame index of every window position.

    Returns
    -------
    numpy.ndarray, shape (W, length), int64
        Frame numbers; positions past the end hold ``-1`` (padding).
    """
    idx = window_starts(n_frames, length, stride)[:, None] + np.arange(length)[None, :]
    idx[idx >= n_frames] = -1
    return idx


def average_windows(
    predictions: np.ndarray, n_frames: int, length: int = 15, stride: int = 10
) -> np.ndarray:
    """Average overlapping window predictions back to one prediction per frame.

    Parameters
    ----------
    predictions : numpy.ndarray, shape (W, length, K)
        Per-position outputs of the windows of :func:`window_starts` (same order).
    n_frames : int
        Frames in the video.

    Returns
    -------
    numpy.ndarray, shape (n_frames, K), float32
        Mean over every window position covering the frame (padding positions ignored).
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    w = n_windows(n_frames, length, stride)
    if predictions.shape[:2] != (w, length):
        raise ValueError(
            f"expected predictions of shape ({w}, {length}, K), got {predictions.shape}"
        )
    k = predictions.shape[2]
    idx = window_frame_index(n_frames, length, stride).ravel()
    keep = idx >= 0
    flat = predictions.reshape(-1, k)[keep]
    frames = idx[keep]
    count = np.bincount(frames, minlength=n_frames).astype(np.float64)
    total = np.stack(
        [np.bincount(frames, weights=flat[:, j], minlength=n_frames) for j in range(k)], axis=1
    )
    return (total / np.maximum(count, 1.0)[:, None]).astype(np.float32)
