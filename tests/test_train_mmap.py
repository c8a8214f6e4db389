"""Memory-mapped training windows (SYNTHETIC features): FrameRows views of store tables,
streamed normalisation statistics, and RAM vs memmap giving the very same training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vafusion.data import FeatureSpec, VideoData, WindowData, fit_normalizer
from vafusion.data.frame_rows import FrameRows
from vafusion.data.memory_budget import choose_in_memory, feature_bytes
from vafusion.data.synthetic import synthetic_spec, synthetic_videos
from vafusion.errors import ConfigError
from vafusion.models import ModelConfig
from vafusion.train import TrainConfig, fit


def test_frame_rows_view_of_a_memmap(tmp_path):
    values = np.arange(24, dtype=np.float32).reshape(8, 3)
    np.save(tmp_path / "v.npy", values)
    mm = np.load(tmp_path / "v.npy", mmap_mode="r")
    rows = np.array([5, -1, 0, 1, 2, -1], dtype=np.int64)  # 6 frames, 2 without a row
    fr = FrameRows(mm, rows)
    assert fr.shape == (6, 3) and len(fr) == 6
    dense = np.asarray(fr)
    assert np.isnan(dense[[1, 5]]).all()
    np.testing.assert_array_equal(dense[[0, 2, 3, 4]], values[[5, 0, 1, 2]])
    # padding frames (past the end or negative) read as NaN; contiguous rows as a slice
    got = fr.take(np.array([2, 3, 4, 6, 7, -1]))
    np.testing.assert_array_equal(got[:3], values[0:3])
    assert np.isnan(got[3:]).all()
    chunks = list(fr.chunks(np.ones(6, bool), size=4))
    assert [c[0].shape[0] for c in chunks] == [4, 2]
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), dense)
    with pytest.raises(Exception, match="past the end"):
        FrameRows(mm, np.array([8]))


def test_streamed_statistics_equal_dense(tmp_path):
    vids = synthetic_videos(3, (40, 90), {"audio": 5, "facepose": 4}, seed=3)
    lazy = []
    for v in vids:
        feats = {}
        for m, x in v.features.items():
            np.save(tmp_path / f"{v.name}-{m}.npy", x)
            mm = np.load(tmp_path / f"{v.name}-{m}.npy", mmap_mode="r")
            feats[m] = FrameRows(mm, np.arange(v.n_frames))
        lazy.append(VideoData(v.name, v.n_frames, feats, v.valid, v.labels))
    a = fit_normalizer(vids, ("audio", "facepose"))
    b = fit_normalizer(lazy, ("audio", "facepose"))
    for m in ("audio", "facepose"):
        np.testing.assert_allclose(a.mean[m], b.mean[m], rtol=1e-12)
        np.testing.assert_allclose(a.std[m], b.std[m], rtol=1e-12)


def test_auto_memory_choice():
    assert choose_in_memory("ram", 10**15) and not choose_in_memory("mmap", 1)
    assert choose_in_memory("auto", 1)
    assert not choose_in_memory("auto", 10**15)  # 1 PB never fits
    with pytest.raises(ConfigError):
        choose_in_memory("disk", 1)
    spec = FeatureSpec(dims={"audio": 3, "facepose": 2})
    vids = synthetic_videos(2, 20, spec.dims)
    # 20 frames -> 2 windows -> 25 padded rows per video, 5 columns of 4 bytes
    assert feature_bytes(vids, spec, 15, 10) == 2 * 25 * 5 * 4


def test_ram_and_mmap_training_are_identical(tmp_path):
    dims = {"audio": 6, "facepose": 5}
    train = synthetic_videos(4, (60, 120), dims, seed=0)
    val = synthetic_videos(2, (60, 90), dims, split="val", seed=1)
    spec = synthetic_spec(dims)
    runs = {}
    for mode in ("ram", "mmap"):
        cfg = TrainConfig(
            model=ModelConfig(name="audio+facepose"), epochs=2, batch_size=8, num_threads=1,
            patience=0, progress=False, data_memory=mode,
        )  # fmt: skip
        runs[mode] = fit(cfg, train, val, spec, tmp_path / mode)
    h1, h2 = runs["ram"].history, runs["mmap"].history
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
    assert [r["val_ccc_mean"] for r in h1] == [r["val_ccc_mean"] for r in h2]
    s1 = torch.load(tmp_path / "ram" / "best.pt", weights_only=True)["model_state"]
    s2 = torch.load(tmp_path / "mmap" / "best.pt", weights_only=True)["model_state"]
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    # the memmap dataset holds no packed features
    norm = fit_normalizer(train, spec.modalities)
    assert not WindowData(train, spec, norm, in_memory=False).x
