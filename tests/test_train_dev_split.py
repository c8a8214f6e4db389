"""The development split (SYNTHETIC features and labels): by video, left/right together,
and the validation split never influences training (early stopping, smoothing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.train_helpers import write_synthetic_affwild2

from vafusion.data.sequences import VideoData
from vafusion.data.splits import dev_split
from vafusion.errors import ConfigError

DIMS = {"audio": 6}


def _v(name: str, video: str) -> VideoData:
    return VideoData(name, 3, {"audio": np.zeros((3, 1))}, {"audio": np.ones(3, bool)},
                     video=video)  # fmt: skip


def test_dev_split_is_by_video_and_deterministic():
    vids = [_v(f"v{i}", f"v{i}") for i in range(8)]
    vids += [_v("p_left", "p"), _v("p_right", "p")]
    for seed in range(6):
        tr, dev = dev_split(vids, 0.3, seed)
        assert {v.name for v in tr}.isdisjoint(v.name for v in dev)
        assert len(tr) + len(dev) == len(vids)
        sides = {v.name: v in dev for v in vids}
        assert sides["p_left"] == sides["p_right"]  # one video never straddles the split
        assert len({v.video for v in dev}) == 3  # 30 % of 9 videos
        assert [v.name for v in dev_split(vids, 0.3, seed)[1]] == [v.name for v in dev]
    assert dev_split(vids, 0.0)[1] == []
    with pytest.raises(ConfigError):
        dev_split(vids, 1.0)


def _train(tmp_path, tag: str, val_seed: int):
    from vafusion.models import ModelConfig
    from vafusion.train import TrainConfig, train
    from vafusion.train.config import DataConfig

    aff, store = tmp_path / tag / "aff", tmp_path / tag / "store"
    write_synthetic_affwild2(aff, store, DIMS, n_train=6, n_val=2, frames=(80, 120))
    val = aff / "Annotations" / "VA_Estimation_Challenge" / "Validation_Set"
    rng = np.random.default_rng(val_seed)  # validation labels: different per call
    for f in sorted(val.glob("*.txt")):
        n = len(f.read_text().splitlines()) - 1
        lab = np.clip(rng.normal(scale=0.4, size=(n, 2)), -1, 1)
        f.write_text("valence,arousal\n" + "".join(f"{a:.4f},{b:.4f}\n" for a, b in lab))
    cfg = TrainConfig(
        model=ModelConfig(name="audio", audio_units=(8, 4), head_units=4),
        data=DataConfig(feature_sets={"audio": "audio"}, dev_fraction=0.34),
        epochs=4, batch_size=8, lr=1e-3, num_threads=1, progress=False, patience=2,
    )  # fmt: skip
    run = tmp_path / tag / "run"
    result = train(cfg, aff, store, run)
    return result, json.loads((run / "result.json").read_text()), run


def test_validation_split_never_influences_training(tmp_path):
    from vafusion.train.checkpoint import load_checkpoint

    r1, doc1, run1 = _train(tmp_path, "a", val_seed=1)
    r2, doc2, run2 = _train(tmp_path, "b", val_seed=2)
    assert r1.validation is not None and doc1["validation"]["n_videos"] == 2
    assert doc1["validation"]["raw"] != doc2["validation"]["raw"]  # other labels, other CCC
    # ... but the same training: history, early stopping, smoothing, weights
    assert r1.history and [h["val_ccc_mean"] for h in r1.history] == [
        h["val_ccc_mean"] for h in r2.history
    ]
    assert r1.best_epoch == r2.best_epoch and r1.smoothing == r2.smoothing
    w1 = load_checkpoint(run1 / "best.pt")["model_state"]
    w2 = load_checkpoint(run2 / "best.pt")["model_state"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
