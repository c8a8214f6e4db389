"""Helpers of the training tests: a synthetic Aff-Wild2 layout + feature store (SYNTHETIC
data with known valence/arousal curves; no real videos needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vafusion.data.synthetic import synthetic_videos
from vafusion.features.base import FeatureTable


def write_synthetic_affwild2(
    root: Path, store_root: Path, dims: dict[str, int], n_train=6, n_val=3, frames=(150, 260)
) -> None:
    """Write ``root/Annotations/VA_Estimation_Challenge/{Train,Validation}_Set/*.txt`` and
    put per-frame synthetic feature tables for every video into a FeatureStore."""
    from vafusion.store import FeatureStore

    store = FeatureStore(store_root)
    ann = root / "Annotations" / "VA_Estimation_Challenge"
    for split, folder, n, seed in (
        ("train", "Train_Set", n_train, 0),
        ("val", "Validation_Set", n_val, 1),
    ):
        (ann / folder).mkdir(parents=True, exist_ok=True)
        for v in synthetic_videos(n, frames, dims, split=split, seed=seed, noise=0.3):
            name = f"{split}-{v.name}"
            lab = np.where(np.isnan(v.labels), -5.0, v.labels)
            lines = ["valence,arousal"] + [f"{a:.4f},{b:.4f}" for a, b in lab]
            (ann / folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
            for mod, x in v.features.items():
                n_frames = v.n_frames
                table = FeatureTable(
                    name=mod,
                    frame=np.arange(n_frames),
                    timestamp=np.arange(n_frames) / 25.0,
                    values=x,
                    columns=[f"{mod}_{j}" for j in range(x.shape[1])],
                    valid=v.valid[mod],
                )
                store.put(
                    name,
                    table,
                    extractor_hash="synthetic0",
                    video_info={"n_frames": n_frames, "fps": 25.0},
                    config={"synthetic": True},
                )
