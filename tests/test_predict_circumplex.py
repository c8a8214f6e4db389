"""The circumplex mapping and smoothing of the default model (unit level)."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.errors import ConfigError
from vafusion.predict.circumplex import EMOTIONS, CircumplexConfig, probabilities_to_va
from vafusion.smoothing import CausalSmoother, smooth_offline


def _va(name, p=0.95):
    probs = np.full((1, 7), (1 - p) / 6)
    probs[0, EMOTIONS.index(name)] = p
    return probabilities_to_va(probs)[0]


def test_signs_of_each_emotion():
    v, a = _va("happy")
    assert v > 0.3 and a > 0.1
    for neg in ("angry", "fear"):
        v, a = _va(neg)
        assert v < -0.2 and a > 0.1, neg
    v, a = _va("sad")
    assert v < -0.2 and a < 0
    v, a = _va("neutral")
    assert abs(v) < 0.1 and -0.15 < a <= 0.02


def test_never_saturates_and_nan_rows_stay_nan():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7) * 0.1, size=2000)
    va = probabilities_to_va(p)
    assert np.abs(va).max() < 0.95
    p[5] = np.nan
    assert np.isnan(probabilities_to_va(p)[5]).all()


def test_uniform_is_near_origin():
    va = probabilities_to_va(np.full((1, 7), 1 / 7))[0]
    assert np.abs(va).max() < 0.3


def test_config_validation():
    with pytest.raises(ConfigError):
        CircumplexConfig(temperature=0)
    with pytest.raises(ConfigError):
        CircumplexConfig(coords={e: (1.0, 1.0) for e in EMOTIONS})


def test_offline_smoothing_keeps_gaps_and_restarts():
    t = np.arange(100) / 25
    x = np.ones(100)
    x[50:] = -1
    x[40:45] = np.nan
    y = smooth_offline(x, t, tau_s=0.2, max_gap_s=0.1)
    assert np.isnan(y[40:45]).all() and not np.isnan(y[:40]).any()
    assert y[0] == pytest.approx(1.0, abs=1e-3) and y[-1] == pytest.approx(-1.0, abs=1e-3)
    assert np.all(np.abs(y[~np.isnan(y)]) <= 1.0)


def test_causal_smoother_resets_after_gap():
    s = CausalSmoother(tau_s=1.0, max_gap_s=0.5)
    s.update(0.0, [1.0, 1.0])
    mid = s.update(0.04, [0.0, 0.0])
    assert 0.9 < mid[0] < 1.0
    assert s.update(2.0, [0.0, 0.0])[0] == 0.0  # after a long gap: restart
