"""CCC against the direct formula (population variances), -5/NaN exclusion, torch == numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vafusion.train.metrics import ccc, ccc_torch, ccc_va


def direct(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


Y = np.array([0.1, -0.4, 0.7, 0.2, -0.9, 0.5])


def test_identical_is_one():
    assert ccc(Y, Y) == pytest.approx(1.0)


def test_negated_is_minus_one():
    assert ccc(-Y + 0.0, Y - Y.mean()) == pytest.approx(direct(-Y, Y - Y.mean()))
    z = Y - Y.mean()
    assert ccc(-z, z) == pytest.approx(-1.0)


def test_constant_prediction_is_zero():
    assert ccc(np.full_like(Y, 0.3), Y) == pytest.approx(0.0)


def test_shifted_mean_lowers_it():
    assert ccc(Y + 0.5, Y) < ccc(Y + 0.1, Y) < 1.0
    assert ccc(Y + 0.5, Y) == pytest.approx(direct(Y + 0.5, Y))


def test_population_not_sample_variance():
    p = np.array([0.0, 1.0, 0.5])
    t = np.array([0.2, 0.8, 0.1])
    assert ccc(p, t) == pytest.approx(direct(p, t))


def test_minus_five_and_nan_are_excluded():
    p = np.array([0.1, 0.9, 0.3, -0.2, 0.4])
    t = np.array([0.2, -5.0, 0.1, np.nan, 0.5])
    keep = [0, 2, 4]
    assert ccc(p, t) == pytest.approx(direct(p[keep], t[keep]))
    assert np.isnan(ccc(p[:2], np.array([-5.0, np.nan])))


def test_ccc_va_concatenates_frames():
    rng = np.random.default_rng(0)
    p, t = rng.uniform(-1, 1, (50, 2)), rng.uniform(-1, 1, (50, 2))
    m = ccc_va(p, t)
    assert m["ccc_valence"] == pytest.approx(direct(p[:, 0], t[:, 0]))
    assert m["ccc_mean"] == pytest.approx((m["ccc_valence"] + m["ccc_arousal"]) / 2)


def test_torch_matches_numpy_with_invalid_labels():
    rng = np.random.default_rng(1)
    p = rng.uniform(-1, 1, (4, 15, 2)).astype(np.float32)
    t = rng.uniform(-1, 1, (4, 15, 2)).astype(np.float32)
    t[0, :3] = -5.0
    t[2, 5] = np.nan
    got = ccc_torch(torch.from_numpy(p), torch.from_numpy(t)).numpy()
    for d in range(2):
        assert got[d] == pytest.approx(ccc(p[..., d].ravel(), t[..., d].ravel()), abs=1e-5)


finite = st.floats(-1, 1, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(3, 40), elements=finite), st.data())
def test_properties(y, data):
    x = data.draw(arrays(np.float64, len(y), elements=finite))
    c = ccc(x, y)
    if x.var() + y.var() + (x.mean() - y.mean()) ** 2 > 1e-12:
        assert -1 - 1e-9 <= c <= 1 + 1e-9
        assert c == pytest.approx(direct(x, y), abs=1e-9)
        assert ccc(y, x) == pytest.approx(c, abs=1e-12)  # symmetric
