"""Synthetic data with known answers (for tests, benchmarks and sanity checks only).

Latent valence/arousal curves are smooth random signals in (-1, 1); each modality's
features are a fixed random linear mix of the curves (plus noise) or pure noise
(``signal=False``). Random stretches of each modality are missing (NaN, invalid) and some
labels are NaN (Aff-Wild2's -5), exactly like the real data's gaps.
"""

from __future__ import annotations

import numpy as np

from vafusion.data.sequences import FeatureSpec, VideoData


def latent_curves(n: int, rng: np.random.Generator, smooth: int = 25) -> np.ndarray:
    """Smooth random (valence, arousal) curves.

    Returns
    -------
    numpy.ndarray, shape (n, 2), float32, values in (-0.9, 0.9)
    """
    noise = rng.normal(size=(n + 4 * smooth, 2))
    kernel = np.hanning(2 * smooth + 1)
    kernel /= kernel.sum()
    sm = np.stack([np.convolve(noise[:, d], kernel, mode="same") for d in range(2)], axis=1)
    sm = sm[2 * smooth : 2 * smooth + n]
    sm /= sm.std(0, keepdims=True) + 1e-9
    return (0.9 * np.tanh(0.8 * sm)).astype(np.float32)


def synthetic_videos(
    n_videos: int,
    frames: int | tuple[int, int],
    dims: dict[str, int],
    *,
    signal: dict[str, bool] | None = None,
    noise: float = 0.3,
    missing: float = 0.1,
    label_missing: float = 0.05,
    split: str = "train",
    seed: int = 0,
    mix_seed: int = 1234,
) -> list[VideoData]:
    """Videos whose features encode known valence/arousal curves.

    Parameters
    ----------
    n_videos : int
    frames : int or (low, high)
        Frames per video (fixed or uniform in ``[low, high)``).
    dims : dict of str to int
        Modality -> feature dimension.
    signal : dict of str to bool, optional
        Modalities carrying the latent curves (default: all); others are pure noise.
    noise : float
        Noise standard deviation relative to the signal.
    missing, label_missing : float
        Share of frames where a modality is missing (in runs) / the label is -5.
    seed : int
        Varies videos; ``mix_seed`` fixes the mixing matrices (keep it for train and val).
    """
    signal = signal or {m: True for m in dims}
    rng = np.random.default_rng(seed)
    mix_rng = np.random.default_rng(mix_seed)
    mixes = {m: mix_rng.normal(size=(2, d)).astype(np.float32) for m, d in dims.items()}
    out = []
    for i in range(n_videos):
        n = frames if isinstance(frames, int) else int(rng.integers(*frames))
        va = latent_curves(n, rng)
        feats, valid = {}, {}
        for m, d in dims.items():
            base = va @ mixes[m] if signal.get(m, True) else np.zeros((n, d), np.float32)
            x = (base + noise * rng.normal(size=(n, d))).astype(np.float32)
            ok = np.ones(n, bool)
            if missing > 0:
                n_gaps = max(1, int(missing * n / 20))
                for _ in range(n_gaps):
                    a = int(rng.integers(0, n))
                    ok[a : a + int(rng.integers(5, 35))] = False
            x[~ok] = np.nan
            feats[m], valid[m] = x, ok
        labels = va.copy()
        labels[rng.random(n) < label_missing] = -5.0
        out.append(VideoData(f"{split}{i:03d}", n, feats, valid, labels, split))
    return out


def synthetic_spec(dims: dict[str, int]) -> FeatureSpec:
    """Feature spec with generic column names for ``dims``."""
    return FeatureSpec(
        dims=dict(dims),
        columns={m: [f"{m}_{j}" for j in range(d)] for m, d in dims.items()},
        feature_sets={m: m for m in dims},
    )
