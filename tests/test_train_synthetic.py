"""SYNTHETIC data: learnability, a no-signal branch, determinism and exact resume."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from vafusion.data.synthetic import synthetic_spec, synthetic_videos
from vafusion.errors import ConfigError
from vafusion.models import ModelConfig
from vafusion.train import TrainConfig, fit, load_model

DIMS = {"audio": 24, "expression": 32, "facepose": 40}


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _data(n_train=20, n_val=4, signal=None):
    tr = synthetic_videos(n_train, (300, 600), DIMS, seed=0, signal=signal)
    va = synthetic_videos(n_val, (300, 600), DIMS, seed=1, split="val", signal=signal)
    return tr, va


@pytest.mark.slow
def test_fusion_gru_learns_synthetic_curves(tmp_path):
    """Synthetic: features are noisy linear mixes of known V/A curves with gaps."""
    tr, va = _data()
    cfg = TrainConfig(epochs=12, lr=1e-3, patience=0, num_threads=1, progress=False)
    r = fit(cfg, tr, va, synthetic_spec(DIMS), tmp_path / "run")
    assert r.best_metrics["ccc_mean"] >= 0.9, r.history
    assert min(r.best_metrics["ccc_valence"], r.best_metrics["ccc_arousal"]) >= 0.85
    assert (tmp_path / "run" / "best.pt").is_file()
    rows = _read_csv(tmp_path / "run" / "log.csv")
    assert len(rows) == 12 and float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])


def test_branch_without_signal_does_not_learn(tmp_path):
    """Synthetic: the audio features are pure noise; the audio-only model must fail."""
    tr, va = _data(12, 3, signal={"audio": False, "expression": True, "facepose": True})
    cfg = TrainConfig(
        model=ModelConfig(name="audio"), epochs=4, lr=1e-3, num_threads=1, progress=False
    )
    r = fit(cfg, tr, va, synthetic_spec(DIMS), tmp_path / "run")
    assert r.best_metrics["ccc_mean"] < 0.3


def _small_cfg(**kw):
    base = dict(
        model=ModelConfig(name="audio+facepose"),
        epochs=3, batch_size=16, lr=1e-3, patience=0, num_threads=1, progress=False,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _weights(run):
    model, _ = load_model(run / "last.pt")
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_same_weights_and_resume_equals_uninterrupted(tmp_path):
    tr, va = _data(5, 2)
    spec = synthetic_spec(DIMS)
    a = fit(_small_cfg(), tr, va, spec, tmp_path / "a")
    b = fit(_small_cfg(), tr, va, spec, tmp_path / "b")
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.history[-1]["val_ccc_mean"] == b.history[-1]["val_ccc_mean"]
    # stop after 1 epoch, then resume to 3
    fit(_small_cfg(epochs=1), tr, va, spec, tmp_path / "c")
    c = fit(_small_cfg(epochs=3), tr, va, spec, tmp_path / "c", resume=True)
    wc = _weights(tmp_path / "c")
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    assert [h["train_loss"] for h in c.history] == [h["train_loss"] for h in a.history]
    assert c.best_epoch == a.best_epoch
    # a different seed gives different weights
    fit(_small_cfg(seed=1, epochs=1), tr, va, spec, tmp_path / "d")
    wd = _weights(tmp_path / "d")
    assert not all(torch.equal(wa[k], wd[k]) for k in wa)
    # resuming with a changed (result-relevant) config is refused
    with pytest.raises(ConfigError, match="lr"):
        fit(_small_cfg(lr=0.5), tr, va, spec, tmp_path / "c", resume=True)


def test_ccc_loss_and_no_validation(tmp_path):
    tr, _ = _data(3, 1)
    r = fit(_small_cfg(loss="mse+ccc", epochs=2), tr, [], synthetic_spec(DIMS), tmp_path / "r")
    assert r.epochs_run == 2 and r.best_epoch == 2  # counted from 1
    assert np.isnan(r.history[0]["val_ccc_mean"])
