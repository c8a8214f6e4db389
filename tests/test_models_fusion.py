"""Model registry, the paper's architecture, masks, and checkpoint safety."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tempfiles import is_temporary, leftover_temporaries
from vafusion.data import FeatureSpec
from vafusion.errors import ConfigError, ModelError, VafusionError
from vafusion.models import ModelConfig, build_model, model_modalities
from vafusion.train.checkpoint import load_checkpoint, save_checkpoint

SPEC = FeatureSpec(dims={"audio": 168, "expression": 40, "facepose": 30})


def batch(b=3, length=15, spec=SPEC, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {m: torch.randn(b, length, d, generator=g) for m, d in spec.dims.items()}
    out.update({f"{m}_mask": torch.ones(b, length) for m in spec.dims})
    out["frame_mask"] = torch.ones(b, length)
    return out


@pytest.mark.parametrize(
    "name",
    ["fusion-gru", "fusion-bilstm", "audio", "expression", "facepose", "audio+expression",
     "expression+facepose", "audio+facepose"],
)  # fmt: skip
def test_every_model_is_seq_to_seq_in_range(name):
    model = build_model(ModelConfig(name=name), SPEC)
    y = model(batch())
    assert y.shape == (3, 15, 2)
    assert float(y.detach().abs().max()) < 1.0  # tanh
    model.eval()
    assert model(batch()).shape == (3, 15, 2)


def test_paper_architecture_of_fusion_gru():
    m = build_model(ModelConfig(), SPEC)
    gru_sizes = {
        b: [layer.rnn.hidden_size for layer in m.branches[b].layers]
        for b in ("audio", "expression")
    }
    assert gru_sizes == {"audio": [128, 64], "expression": [256, 256, 64]}
    assert all(isinstance(layer.rnn, torch.nn.GRU) for layer in m.branches["audio"].layers)
    assert [layer.fc.out_features for layer in m.branches["facepose"].layers] == [128, 64]
    assert [d.p for d in m.branches["audio"].drops] == [0.25, 0.25]
    assert [d.p for d in m.branches["expression"].drops] == [0.0, 0.0, 0.0]
    assert [d.p for d in m.branches["facepose"].drops] == [0.25, 0.25]
    # input dims come from the data (+1 validity-mask channel)
    assert m.branches["audio"].layers[0].rnn.input_size == 169
    assert m.hidden.in_features == 192 and m.hidden.out_features == 64
    assert m.out.out_features == 2
    bi = build_model(ModelConfig(name="fusion-bilstm"), SPEC)
    assert bi.branches["audio"].layers[0].rnn.bidirectional


def test_unknown_model_and_missing_features():
    with pytest.raises(ConfigError, match="unknown model"):
        model_modalities("audio+video")
    with pytest.raises(ModelError, match="needs features"):
        build_model(ModelConfig(name="fusion-gru"), FeatureSpec(dims={"audio": 4}))


def test_missing_modality_is_zero_plus_mask_not_data():
    m = build_model(ModelConfig(name="facepose"), SPEC).eval()
    b = batch()
    b["facepose_mask"][:, 5:] = 0
    b2 = {k: v.clone() for k, v in b.items()}
    b2["facepose"][:, 5:] = 1e6  # garbage where invalid must not matter
    assert torch.allclose(m(b), m(b2))


def test_padding_frames_do_not_change_batch_statistics():
    torch.manual_seed(0)
    m = build_model(ModelConfig(name="facepose", facepose_dropout=0.0), SPEC).train()
    b = batch()
    b["frame_mask"][:, 10:] = 0
    y1 = m(b)
    b["facepose"][:, 10:] = 50.0
    y2 = m(b)
    # dense branch: real frames are independent of the padded ones except through BN stats
    assert torch.allclose(y1[:, :10], y2[:, :10], atol=1e-5)


def test_corrupt_and_foreign_checkpoints_raise_model_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="bad.pt"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ModelError, match="not a vafusion checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    ok = save_checkpoint(
        tmp_path / "ok.pt",
        {"config": {}, "spec": {}, "normalizer": {}, "model_state": {"w": torch.zeros(2)}},
    )
    assert np.allclose(load_checkpoint(ok)["model_state"]["w"].numpy(), 0)
    assert not leftover_temporaries(tmp_path)  # atomic write leaves no temp file


def test_failed_checkpoint_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A fault between writing the new checkpoint and renaming it over the old one."""
    path = tmp_path / "last.pt"
    state = {"config": {}, "spec": {}, "normalizer": {}}
    save_checkpoint(path, {**state, "model_state": {"w": torch.zeros(2)}})
    renamed = []

    def full_disk(src, dst):
        renamed.append(Path(src).name)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(VafusionError, match="last.pt.*No space left"):
        save_checkpoint(path, {**state, "model_state": {"w": torch.ones(2)}})
    monkeypatch.undo()
    assert len(renamed) == 1 and is_temporary(renamed[0]), renamed  # it did fail mid-write
    assert np.allclose(load_checkpoint(path)["model_state"]["w"].numpy(), 0)
    assert not leftover_temporaries(tmp_path)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_bilstm_padding_does_not_leak_into_real_frames(mode):
    """The backward LSTM direction must start at each window's last real frame: outputs on
    real frames are independent of the padded content and equal to running the model on
    the unpadded window alone."""
    torch.manual_seed(0)
    cfg = ModelConfig(name="fusion-bilstm", audio_dropout=0.0, facepose_dropout=0.0)
    m = build_model(cfg, SPEC)
    m.train(mode == "train")
    b = batch(b=4)
    lengths = [15, 9, 12, 1]
    for i, n in enumerate(lengths):
        b["frame_mask"][i, n:] = 0
    y1 = m(b)
    b2 = {k: v.clone() for k, v in b.items()}
    g = torch.Generator().manual_seed(7)
    for i, n in enumerate(lengths):
        for mod in SPEC.dims:
            b2[mod][i, n:] = 100.0 * torch.randn(b2[mod][i, n:].shape, generator=g)
            b2[f"{mod}_mask"][i, n:] = 1.0  # padded frames may even claim to be valid
    y2 = m(b2)
    for i, n in enumerate(lengths):
        assert torch.allclose(y1[i, :n], y2[i, :n], atol=1e-6), f"window {i} (length {n})"
    if mode == "eval":  # per-frame BN (running stats): the window alone gives the same
        one = {k: v[1:2, :9] for k, v in b2.items()}
        assert torch.allclose(m(one)[0], y1[1, :9], atol=1e-6)
