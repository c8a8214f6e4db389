"""Window maths: counts, stride, padding masks, averaging back to frames, batch gathering."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.data import (
    FeatureSpec,
    VideoData,
    WindowData,
    average_windows,
    fit_normalizer,
    n_windows,
    window_frame_index,
    window_starts,
)
from vafusion.errors import ConfigError


@pytest.mark.parametrize(
    ("n", "expected"), [(0, 0), (1, 1), (15, 1), (16, 2), (25, 2), (26, 3), (100, 10), (105, 10)]
)
def test_counts(n, expected):
    assert n_windows(n, 15, 10) == expected
    if n:
        starts = window_starts(n)
        assert starts[-1] + 15 >= n  # last window reaches the end
        assert np.all(np.diff(starts) == 10)  # 5 frames of overlap


def test_padding_index_and_bad_config():
    idx = window_frame_index(20, 15, 10)
    assert idx.shape == (2, 15)
    assert list(idx[1, :10]) == list(range(10, 20))
    assert np.all(idx[1, 10:] == -1)
    with pytest.raises(ConfigError):
        n_windows(10, 15, 16)
    with pytest.raises(ConfigError):
        n_windows(10, 0, 1)


@pytest.mark.parametrize("n", [1, 14, 15, 37, 100])
def test_average_back_to_frames(n):
    idx = window_frame_index(n)
    frame_value = np.arange(n, dtype=float)
    # every window predicts the frame number -> average is the frame number
    preds = np.where(idx >= 0, idx, 999.0)[..., None].repeat(2, axis=2)
    assert np.allclose(average_windows(preds, n)[:, 0], frame_value)
    # overlap frames are averaged: window w predicts w everywhere
    w = n_windows(n)
    preds = np.arange(w, dtype=float)[:, None, None] * np.ones((w, 15, 2))
    out = average_windows(preds, n)[:, 0]
    for f in range(n):
        covering = [k for k in range(w) if k * 10 <= f < k * 10 + 15]
        assert out[f] == pytest.approx(np.mean(covering))


def test_window_data_batch_masks_and_labels():
    rng = np.random.default_rng(0)
    spec = FeatureSpec(dims={"audio": 3, "facepose": 2})
    vids = []
    for i, n in enumerate([20, 15]):
        feats = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in spec.dims.items()}
        valid = {m: np.ones(n, bool) for m in spec.dims}
        valid["facepose"][2] = False
        feats["facepose"][2] = np.nan
        labels = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        labels[4] = -5.0
        vids.append(VideoData(f"v{i}", n, feats, valid, labels))
    norm = fit_normalizer(vids[:1], spec.modalities)  # train split only
    data = WindowData(vids, spec, norm)
    assert len(data) == 3 and list(data.video_of_window) == [0, 0, 1]
    b = data.batch([1, 2, 0])
    assert b["audio"].shape == (3, 15, 3) and b["facepose_mask"].shape == (3, 15)
    # window 1 of video 0 covers frames 10..19 then 5 padding frames
    assert b["frame_mask"][0].tolist() == [1.0] * 10 + [0.0] * 5
    assert b["y_mask"][0, 10:].sum() == 0 and b["audio"][0, 10:].abs().sum() == 0
    # -5 label -> masked; missing face -> zero input and mask 0 (no fake data)
    assert b["y_mask"][2, 4].tolist() == [0.0, 0.0]
    assert b["facepose_mask"][2, 2] == 0 and b["facepose"][2, 2].abs().sum() == 0
    expected = np.nan_to_num(vids[1].labels[:15, 0], nan=0.0)
    assert np.allclose(b["y"][1, :, 0].numpy(), expected)
    # normalisation fitted on video 0's valid frames only
    x0 = vids[0].features["audio"]
    assert np.allclose(norm.mean["audio"], x0.mean(0), atol=1e-6)
    assert np.allclose(data.x["audio"][:20].numpy().mean(0), 0, atol=1e-5)
