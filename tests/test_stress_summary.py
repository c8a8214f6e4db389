"""Stress summary maths on SYNTHETIC curves (labelled synthetic: not model output)."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.report.stress import StressConfig, stress_intensity, stress_summary


def _synthetic(n=250, fps=25.0):
    t = np.arange(n) / fps
    return t


def test_quadrant_shares_and_episode_synthetic():
    t = _synthetic(250)  # 10 s
    v = np.full(250, 0.5)
    a = np.full(250, 0.5)
    v[50:150] = -0.6  # 4 s tense (v<0, a>0)
    a[200:] = -0.5  # 2 s calm (v>0, a<0)
    s = stress_summary(t, v, a)
    q = s["quadrant_share"]
    assert q["high_arousal_negative"] == pytest.approx(0.4)
    assert q["low_arousal_positive"] == pytest.approx(0.2)
    assert q["high_arousal_positive"] == pytest.approx(0.4)
    assert s["stress_zone_share"] == pytest.approx(0.4)
    assert s["stress_episodes"] == 1
    assert s["longest_stress_episode_s"] == pytest.approx(4.0)
    # index: 0.4 of the time at (a - v) / 2 = 0.55, else 0
    assert s["stress_index"] == pytest.approx(100 * 0.4 * 0.55, abs=0.1)


def test_gaps_shorter_than_tolerance_do_not_break_episodes_synthetic():
    t = _synthetic(250)
    v = np.full(250, -0.5)
    a = np.full(250, 0.5)
    v[100:105] = np.nan  # 0.2 s without a face
    a[100:105] = np.nan
    s = stress_summary(t, v, a, StressConfig(gap_tolerance_s=0.5))
    assert s["stress_episodes"] == 1 and s["longest_stress_episode_s"] == pytest.approx(10.0)
    s2 = stress_summary(t, v, a, StressConfig(gap_tolerance_s=0.1))
    assert s2["stress_episodes"] == 2


def test_thresholds_configurable_and_short_episodes_dropped_synthetic():
    t = _synthetic(250)
    v = np.full(250, -0.05)
    a = np.full(250, 0.3)
    assert stress_summary(t, v, a)["stress_zone_share"] == 0.0  # -0.05 is not below -0.1
    s = stress_summary(t, v, a, StressConfig(valence_threshold=0.0))
    assert s["stress_zone_share"] == pytest.approx(1.0)
    v2 = np.full(250, 0.5)
    v2[10:20] = -0.5  # 0.4 s: shorter than min_episode_s
    assert stress_summary(t, v2, a)["stress_episodes"] == 0


def test_per_minute_and_all_missing_synthetic():
    t = np.arange(0, 150, 0.5)  # 2.5 minutes at 2 fps
    v = np.where(t < 60, -0.5, 0.5)
    a = np.full_like(t, 0.5)
    rows = stress_summary(t, v, a)["per_minute"]
    assert len(rows) == 3
    assert rows[0]["stress_zone_share"] == pytest.approx(1.0)
    assert rows[1]["stress_zone_share"] == pytest.approx(0.0)
    assert rows[2]["end_s"] == pytest.approx(150.0)
    empty = stress_summary(t, np.full_like(t, np.nan), np.full_like(t, np.nan))
    assert empty["stress_index"] is None and empty["quadrant_share"] is None


def test_intensity_range():
    assert stress_intensity(np.array([-1.0]), np.array([1.0]))[0] == 1.0
    assert stress_intensity(np.array([1.0]), np.array([-1.0]))[0] == 0.0
    assert stress_intensity(np.array([0.0]), np.array([0.0]))[0] == 0.0
