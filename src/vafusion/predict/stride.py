"""Frame stride for predict: analyse every ``k``-th frame, interpolate the frames between.

With ``stride = k`` the face tracker and the expression network see only every ``k``-th
decoded frame (every frame is still decoded: the codec needs them); the frames between
two analysed frames where the same face was seen get valence/arousal (and the face box)
interpolated linearly in time, and are marked ``interpolated``. Frames next to an
analysed frame without that face stay missing: interpolation never bridges a face gap.
The measured effect on the curves is in docs/predict.md (benchmarks/stride_effect.py).
"""

from __future__ import annotations

import numpy as np

from vafusion.errors import ConfigError
from vafusion.features.base import Accumulator, FeatureTable
from vafusion.io.media import VideoFrame, VideoInfo

#: largest accepted stride
MAX_STRIDE = 25


def check_stride(stride: int) -> int:
    """Validate a ``--stride`` value (an integer in 1..MAX_STRIDE)."""
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)):
        raise ConfigError(f"--stride must be a whole number, got {stride!r}")
    if not 1 <= int(stride) <= MAX_STRIDE:
        raise ConfigError(f"--stride must be between 1 and {MAX_STRIDE}, got {stride}")
    return int(stride)


class AnalysedFrames(Accumulator):
    """Per-video accumulator recording which frames were analysed (pushed) in the pass.

    Its table (name ``_analysed``) has one row per analysed frame, no columns.
    """

    name = "_analysed"
    needs_faces = True
    columns: list[str] = []

    def __init__(self) -> None:
        self.frames: list[int] = []

    def push(self, frame: VideoFrame, faces: list) -> None:
        """Record one analysed frame."""
        self.frames.append(frame.index)

    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """The analysed frames of the video."""
        frame = np.asarray(self.frames, np.int64)
        n = len(frame)
        return FeatureTable(
            self.name, frame, np.asarray(timestamps)[frame], np.zeros((n, 0)), [], np.ones(n)
        )


def interpolate_between(
    values: np.ndarray, timestamps: np.ndarray, seen: np.ndarray, analysed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames between consecutive analysed frames that both saw the face.

    Parameters
    ----------
    values : numpy.ndarray, shape (T, D)
        Per-frame values, meaningful where ``seen``.
    timestamps : numpy.ndarray, shape (T,), float64
    seen : numpy.ndarray, shape (T,), bool
        The face was seen (only ever True on analysed frames).
    analysed : numpy.ndarray, shape (T,), bool
        Frames the model analysed.

    Returns
    -------
    values : numpy.ndarray, shape (T, D), float64
        With the filled frames linearly interpolated in time (others unchanged).
    filled : numpy.ndarray, shape (T,), bool
        The interpolated frames.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    filled = np.zeros(len(out), dtype=bool)
    idx = np.flatnonzero(analysed)
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if b - a < 2 or not (seen[a] and seen[b]):
            continue
        t = timestamps[a + 1 : b]
        w = ((t - timestamps[a]) / (timestamps[b] - timestamps[a]))[:, None]
        out[a + 1 : b] = (1 - w) * out[a] + w * out[b]
        filled[a + 1 : b] = True
    return out, filled
