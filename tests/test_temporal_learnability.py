"""Temporal learnability on a small SYNTHETIC set: targets that need 1 s of memory (a leaky
integrator, a delayed copy). The GRU model must beat a per-frame MLP with the same number of
parameters by a clear margin, and the GRU trained on labels shuffled between videos must
stay near 0 CCC (nothing leaks from features to labels except through time)."""

from __future__ import annotations

import numpy as np

from vafusion.data.temporal import temporal_targets, temporal_videos
from vafusion.train.learnability import TemporalSetup, run_temporal_benchmark
from vafusion.train.metrics import ccc


def test_targets_need_memory():
    [v] = temporal_videos(1, 3000, seed=5)
    x, y = v.features["audio"], v.labels
    ok = np.isfinite(y).all(1)
    # the current frame says little about either target; the past says everything
    assert abs(np.corrcoef(x[ok, 0], y[ok, 0])[0, 1]) < 0.5
    assert abs(np.corrcoef(x[ok, 1], y[ok, 1])[0, 1]) < 0.1
    np.testing.assert_allclose(y[25:, 1], np.clip(0.4 * x[:-25, 1], -0.95, 0.95), atol=1e-6)
    np.testing.assert_array_equal(temporal_targets(x, 25.0, 1.0, 1.0), y)
    shuffled = temporal_videos(3, 500, seed=5, shuffle_labels=True)
    plain = temporal_videos(3, 500, seed=5)
    np.testing.assert_array_equal(shuffled[0].labels, plain[1].labels)


def test_gru_beats_same_size_mlp_and_shuffled_labels_learn_nothing():
    setup = TemporalSetup(n_train=10, n_val=3, frames=400, window=64, stride=16, epochs=6)
    res = run_temporal_benchmark(setup, models=("gru", "mlp"))
    p, c = res["params"], res["ccc"]
    assert abs(p["mlp"] - p["gru"]) <= 0.15 * p["gru"]  # same size
    assert c["gru"]["mean"] >= c["mlp"]["mean"] + 0.2, c
    assert c["gru"]["valence"] >= 0.6, c
    assert abs(c["control"]["mean"]) < 0.1, c
    assert ccc(np.zeros(3), np.ones(3)) == 0.0  # sanity of the metric used
