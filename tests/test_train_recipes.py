"""The improved recipe's parts on SYNTHETIC data: the long-context TCN, per-video
normalisation (memory-mapped == in RAM), the annotation-lag shift, and the presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vafusion.data import WindowData, fit_normalizer
from vafusion.data.synthetic import synthetic_spec, synthetic_videos
from vafusion.errors import ConfigError
from vafusion.models import ModelConfig, build_model
from vafusion.smoothing import Smoothing, delay, frame_times, tune_smoothing

DIMS = {"audio": 5, "expression": 7, "facepose": 6}


def _batch(length: int, b: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {m: torch.randn(b, length, d, generator=g) for m, d in DIMS.items()}
    out.update({f"{m}_mask": torch.ones(b, length) for m in DIMS})
    out["frame_mask"] = torch.ones(b, length)
    return out


def test_tcn_sees_its_receptive_field_and_ignores_padding():
    cfg = ModelConfig(name="fusion-tcn", tcn_dilations=(1, 2, 4, 8), tcn_dropout=0.0)
    model = build_model(cfg, synthetic_spec(DIMS)).eval()
    assert model.receptive_field == 31
    x = _batch(64)
    y0 = model(x)
    assert y0.shape == (3, 64, 2) and (y0.abs() < 1).all()
    # a change at frame 40 reaches frames 40 +- 15 and nothing further
    x2 = {k: v.clone() for k, v in x.items()}
    x2["audio"][:, 40] += 5.0
    diff = (model(x2) - y0).abs().amax(dim=(0, 2))
    assert (diff[25:56] > 0).any() and (diff[:25] == 0).all() and (diff[56:] == 0).all()
    # padding (frame_mask 0 at the end) does not leak into real frames
    x3 = {k: v.clone() for k, v in x.items()}
    x3["frame_mask"][:, 50:] = 0
    x4 = {k: v.clone() for k, v in x3.items()}
    x4["expression"][:, 50:] = 100.0
    torch.testing.assert_close(model(x3)[:, :50], model(x4)[:, :50])


def test_per_video_normalisation_same_in_ram_and_mmap_and_centres_each_video():
    vids = synthetic_videos(4, (100, 160), DIMS, seed=3)
    for k, v in enumerate(vids):  # per-video offsets the training-split statistics keep
        v.features["audio"] = v.features["audio"] + 3.0 * k
    spec = synthetic_spec(DIMS)
    norm = fit_normalizer(vids, spec.modalities)
    ram = WindowData(vids, spec, norm, 15, 10, in_memory=True, per_video=True)
    mm = WindowData(vids, spec, norm, 15, 10, in_memory=False, per_video=True)
    idx = np.arange(len(ram))
    b1, b2 = ram.batch(idx), mm.batch(idx)
    for k in b1:
        torch.testing.assert_close(b1[k], b2[k], rtol=0, atol=1e-5)
    plain = WindowData(vids, spec, norm, 15, 10, in_memory=True)
    for i, v in enumerate(vids):
        a = int(ram.video_rows[i])
        ok = v.valid["audio"]
        per = ram.x["audio"][a : a + v.n_frames].numpy()[ok]
        glob = plain.x["audio"][a : a + v.n_frames].numpy()[ok]
        assert np.abs(per.mean(0)).max() < 1e-3  # centred per video
        assert np.abs(glob.mean(0)).max() > 0.5  # the global statistics leave the offset


def test_lag_shift_delays_and_is_found_on_lagged_labels():
    t = frame_times(300, 25.0)
    x = np.sin(t)[:, None].repeat(2, 1)
    d = delay(x, t, 0.4)
    np.testing.assert_allclose(d[10:], x[:-10], atol=1e-9)  # 0.4 s = 10 frames
    assert (d[:10] == x[0]).all()  # held before the first output
    rng = np.random.default_rng(0)
    preds, labels, times = [], [], []
    for _ in range(3):
        p = np.cumsum(rng.normal(size=(400, 2)), 0) * 0.05
        tt = frame_times(400, 25.0)
        preds.append(p)
        labels.append(delay(p, tt, 0.6))  # annotations react 0.6 s late
        times.append(tt)
    s = tune_smoothing(preds, labels, times, candidates=(0.0,), lags=(0.0, 0.2, 0.6, 1.0))
    assert s.lag_s == 0.6 and s.tau_s == (0.0, 0.0) and not s.is_identity
    out = s.apply(preds[0], times[0])
    np.testing.assert_allclose(out, labels[0], atol=1e-5)
    assert Smoothing.from_dict(s.to_dict()) == s


def test_recipes_and_cli_switches():
    from vafusion.cli.train_cmds import _config
    from vafusion.train.recipes import recipe_config

    paper, improved = recipe_config("paper"), recipe_config("improved")
    assert paper.model.name == "fusion-gru" and paper.loss == "mse" and paper.data.window == 15
    assert not (paper.tune_smoothing or paper.tune_lag or paper.data.per_video_norm)
    assert improved.model.name == "fusion-tcn" and improved.loss == "ccc"
    assert improved.data.window >= 64 and improved.data.per_video_norm
    assert improved.data.dev_fraction > 0 and improved.tune_lag and improved.tune_smoothing
    ab = _config(None, "improved", loss="mse", tune_lag=False, data={"per_video_norm": False})
    assert ab.loss == "mse" and not ab.tune_lag and not ab.data.per_video_norm
    assert ab.model.name == "fusion-tcn" and ab.tune_smoothing  # the rest unchanged
    with pytest.raises(ConfigError):
        recipe_config("winner")
