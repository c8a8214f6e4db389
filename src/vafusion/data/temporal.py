"""SYNTHETIC data for the temporal learnability benchmark: targets that depend on the last
seconds of the features, so that only a model with memory can predict them.

Features are short-memory random signals (AR(1), time constant ``feature_tau_s``) in ``dim``
channels, per frame at ``fps``:

- valence = a leaky integrator of channel 0 (time constant ``tau_s``): a running average of
  the last ~1-3 s;
- arousal = channel 1 delayed by ``delay_s``.

A per-frame model sees only ``x[t]``, which is nearly uncorrelated with either target when
``feature_tau_s`` is small against ``tau_s`` and ``delay_s``; a sequence model whose window
reaches ``delay_s`` back can predict both. With ``shuffle_labels`` the targets are moved to
another video (a leakage control: nothing links features and labels, the CCC must stay near
0). Every video has all modalities in ``modalities``, holding the same features.
"""

from __future__ import annotations

import numpy as np

from vafusion.data.sequences import FeatureSpec, VideoData


def _ar1(n: int, dim: int, tau_frames: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance AR(1) noise, shape (n, dim)."""
    from scipy.signal import lfilter

    r = float(np.exp(-1.0 / max(tau_frames, 1e-9)))
    e = rng.normal(size=(n + 200, dim)) * np.sqrt(1 - r * r)
    return lfilter([1.0], [1.0, -r], e, axis=0)[200:].astype(np.float32)


def temporal_targets(x: np.ndarray, fps: float, tau_s: float, delay_s: float) -> np.ndarray:
    """``(valence, arousal)`` of one video from its features ``x`` (n, dim).

    Valence: leaky integrator of ``x[:, 0]`` (time constant ``tau_s``), arousal:
    ``x[t - delay, 1]``; both scaled to a standard deviation of about 0.4, clipped to
    [-0.95, 0.95]; NaN on the first ``delay`` frames (no past to copy).

    Returns
    -------
    numpy.ndarray, shape (n, 2), float32
    """
    from scipy.signal import lfilter

    a = 1.0 - float(np.exp(-1.0 / (tau_s * fps)))
    integ = lfilter([a], [1.0, a - 1.0], x[:, 0].astype(np.float64))
    # std of the integrated AR(1) input is below 1: scale by the empirical one
    integ = integ / (integ[int(3 * tau_s * fps) :].std() + 1e-9)
    d = int(round(delay_s * fps))
    delayed = np.full(len(x), np.nan)
    delayed[d:] = x[: len(x) - d, 1]
    y = np.stack([0.4 * integ, 0.4 * delayed], axis=1)
    return np.clip(y, -0.95, 0.95).astype(np.float32)


def temporal_videos(
    n_videos: int,
    frames: int,
    *,
    dim: int = 8,
    fps: float = 25.0,
    tau_s: float = 1.0,
    delay_s: float = 1.0,
    feature_tau_s: float = 0.08,
    modalities: tuple[str, ...] = ("audio", "facepose"),
    shuffle_labels: bool = False,
    split: str = "train",
    seed: int = 0,
) -> list[VideoData]:
    """SYNTHETIC videos whose targets need 1-3 s of memory (see the module docstring).

    Parameters
    ----------
    n_videos, frames : int
        Number of videos and frames per video (equal lengths, so labels can be shuffled).
    dim : int
        Feature channels (>= 2; channels 2.. are distractors).
    shuffle_labels : bool
        Give each video the labels of another one (leakage control).
    seed : int

    Returns
    -------
    list of VideoData
        ``timestamps`` at ``fps``; features (frames, dim) float32 per modality.
    """
    rng = np.random.default_rng(seed)
    xs = [_ar1(frames, dim, feature_tau_s * fps, rng) for _ in range(n_videos)]
    ys = [temporal_targets(x, fps, tau_s, delay_s) for x in xs]
    if shuffle_labels and n_videos > 1:
        ys = ys[1:] + ys[:1]  # video i gets the labels of video i + 1
    t = np.arange(frames) / fps
    return [
        VideoData(
            f"{split}{i:03d}",
            frames,
            {m: x for m in modalities},
            {m: np.ones(frames, bool) for m in modalities},
            y,
            split,
            timestamps=t,
        )  # fmt: skip
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]


def temporal_spec(dim: int = 8, modalities: tuple[str, ...] = ("audio", "facepose")):
    """Feature spec of :func:`temporal_videos`."""
    return FeatureSpec(
        dims={m: dim for m in modalities},
        columns={m: [f"x{j}" for j in range(dim)] for m in modalities},
        feature_sets={m: m for m in modalities},
    )
