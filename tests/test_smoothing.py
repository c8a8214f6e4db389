"""The one output smoother (vafusion.smoothing) on SYNTHETIC curves: zero phase, gaps,
the vectorised path equals the per-sample recursion, per-dimension time constants, tuning,
and the checkpoint form."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.errors import ConfigError
from vafusion.smoothing import (
    CausalSmoother,
    Smoothing,
    frame_times,
    smooth_offline,
    tune_smoothing,
)


def _loop(x: np.ndarray, t: np.ndarray, tau: float) -> np.ndarray:
    """Reference: the recursion written out, forward then backward."""

    def one(x, t):
        y = np.empty_like(x)
        y[0] = x[0]
        for i in range(1, len(x)):
            a = 1 - np.exp(-abs(t[i] - t[i - 1]) / tau)
            y[i] = y[i - 1] + a * (x[i] - y[i - 1])
        return y

    return one(one(x, t)[::-1], t[::-1])[::-1]


@pytest.mark.parametrize("n", [2, 3, 255, 256, 300, 513, 2000])
def test_constant_rate_fast_path_equals_recursion(n):
    # the block form carries its state across 256-sample blocks: lengths around them
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    t = frame_times(n, 30.0)
    np.testing.assert_allclose(smooth_offline(x, t, 0.4), _loop(x, t, 0.4), atol=1e-12)


def test_variable_rate_equals_recursion():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    t = np.cumsum(rng.uniform(0.02, 0.05, 200))
    np.testing.assert_allclose(smooth_offline(x, t, 0.3, 1.0), _loop(x, t, 0.3), atol=1e-12)


def test_zero_phase_keeps_a_symmetric_bump_centred():
    t = frame_times(301, 25.0)
    x = np.exp(-(((t - t[150]) / 0.3) ** 2))
    y = smooth_offline(x, t, 0.5)
    assert int(np.argmax(y)) == 150  # no lag
    assert y.max() < x.max()  # but smoothed
    causal = CausalSmoother(0.5)
    yc = np.array([causal.update(ti, [xi])[0] for ti, xi in zip(t, x, strict=True)])
    assert int(np.argmax(yc)) >= 155  # the causal filter lags


def test_gaps_stay_nan_and_restart_the_filter():
    t = frame_times(100, 25.0)
    x = np.ones((100, 2))
    x[50:] = -1
    x[40:45] = np.nan
    y = smooth_offline(x, t, (0.2, 0.0), max_gap_s=0.1)
    assert np.isnan(y[40:45]).all() and not np.isnan(y[:40]).any()
    assert y[0, 0] == pytest.approx(1.0, abs=1e-3) and y[-1, 0] == pytest.approx(-1.0, abs=1e-3)
    np.testing.assert_array_equal(y[~np.isnan(y[:, 1]), 1], x[~np.isnan(x[:, 1]), 1])  # tau 0


def test_per_dimension_time_constants():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 2))
    t = frame_times(400, 30.0)
    y = Smoothing((0.1, 1.0)).apply(x, t)
    np.testing.assert_allclose(y[:, 0], smooth_offline(x[:, 0], t, 0.1), atol=1e-6)
    np.testing.assert_allclose(y[:, 1], smooth_offline(x[:, 1], t, 1.0), atol=1e-6)
    assert y[:, 1].std() < y[:, 0].std()


def test_tuning_prefers_smoothing_noisy_predictions_and_none_for_exact_ones():
    rng = np.random.default_rng(3)
    preds, labels, times = [], [], []
    for _ in range(4):
        t = frame_times(600, 30.0)
        y = np.stack([np.sin(t / 2), np.cos(t / 3)], 1)
        p = y.copy()
        p[:, 0] += rng.normal(scale=0.5, size=600)  # valence noisy, arousal exact
        preds.append(p)
        labels.append(y)
        times.append(t)
    s = tune_smoothing(preds, labels, times)
    assert s.tau_s[0] > 0.1 and s.tau_s[1] == 0.0


def test_checkpoint_form_round_trips_and_validates():
    s = Smoothing((0.35, 1.5), 0.4)
    assert Smoothing.from_dict(s.to_dict()) == s
    assert Smoothing.from_dict(None).is_identity
    with pytest.raises(ConfigError):
        Smoothing((-1.0, 0.0))
    with pytest.raises(ConfigError):
        Smoothing.from_dict({"method": "moving-average", "tau_s": [1, 1]})


def test_causal_smoother_per_dimension_and_reset():
    s = CausalSmoother(tau_s=(1.0, 0.0), max_gap_s=0.5)
    s.update(0.0, [1.0, 1.0])
    mid = s.update(0.04, [0.0, 0.0])
    assert 0.9 < mid[0] < 1.0 and mid[1] == 0.0
    assert s.update(2.0, [0.0, 0.0])[0] == 0.0  # after a long gap: restart
