"""CLI end-to-end on a SYNTHETIC Aff-Wild2 layout + feature store: train, evaluate,
metrics.json consistent with the prediction files; DDP with 2 processes == 1 process."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from train_helpers import write_synthetic_affwild2
from vafusion.train.metrics import ccc

DIMS = {"audio": 16, "expression": 12, "facepose": 20}
PY = sys.executable


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_affwild2(root / "aff", root / "store", DIMS, n_train=6, n_val=3)
    cfg = root / "cfg.yaml"
    cfg.write_text(
        "model: {name: audio+facepose}\nlr: 0.001\nnum_threads: 1\npatience: 0\nprogress: false\n"
    )
    return root


def _train(synth, out, nproc=1, extra=()):
    base = ["-m", "vafusion", "train", "--data", str(synth / "aff"), "--features",
            str(synth / "store"), "--out", str(out), "--epochs", "2", "--batch-size", "16",
            "--config", str(synth / "cfg.yaml"), *extra]  # fmt: skip
    if nproc > 1:
        cmd = [PY, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-port", "29533", *base]  # fmt: skip
    else:
        cmd = [PY, *base]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def test_train_evaluate_cli_consistent(synth, tmp_path):
    p = _train(synth, tmp_path / "run")
    assert "validation CCC" in p.stdout
    run = tmp_path / "run"
    assert {"best.pt", "last.pt", "log.csv", "config.yaml", "result.json"} <= {
        f.name for f in run.iterdir()
    }
    ev = tmp_path / "eval"
    p = subprocess.run(
        [PY, "-m", "vafusion", "evaluate", str(run), "--data", str(synth / "aff"), "--features",
         str(synth / "store"), "--split", "validation", "--out", str(ev), "--format", "abaw"],
        capture_output=True, text=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    m = json.loads((ev / "metrics.json").read_text())
    preds, trues = [], []
    for f in sorted((ev / "predictions").glob("*.csv")):
        rows = _read_csv(f)
        assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
        preds.append([[float(r["valence"]), float(r["arousal"])] for r in rows])
        trues.append(
            [[float(r["valence_true"] or "nan"), float(r["arousal_true"] or "nan")] for r in rows]
        )
        sub = (ev / "abaw" / f"{f.stem}.txt").read_text().splitlines()
        assert sub[0] == "valence,arousal" and len(sub) == len(rows) + 1
        pv = m["per_video"][f.stem]
        y = np.array(trues[-1])
        assert pv["ccc_valence"] == pytest.approx(ccc(np.array(preds[-1])[:, 0], y[:, 0]), abs=1e-5)
    p_all, y_all = np.concatenate(preds), np.concatenate(trues)
    assert len(preds) == m["n_videos"] == 3
    assert m["n_frames"] == int(np.isfinite(y_all).any(axis=1).sum())
    assert m["ccc_valence"] == pytest.approx(ccc(p_all[:, 0], y_all[:, 0]), abs=1e-5)
    assert m["ccc_arousal"] == pytest.approx(ccc(p_all[:, 1], y_all[:, 1]), abs=1e-5)
    assert m["ccc_mean"] == pytest.approx((m["ccc_valence"] + m["ccc_arousal"]) / 2)
    # a corrupt checkpoint is one clear line, not a traceback
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    p = subprocess.run(
        [PY, "-m", "vafusion", "evaluate", str(bad), "--data", str(synth / "aff"), "--features",
         str(synth / "store"), "--out", str(tmp_path / "e2")],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert p.returncode != 0 and "Traceback" not in p.stderr and "bad.pt" in p.stderr


@pytest.mark.slow
def test_ddp_two_processes_match_one(synth, tmp_path):
    _train(synth, tmp_path / "one")
    _train(synth, tmp_path / "two", nproc=2)
    one = _read_csv(tmp_path / "one" / "log.csv")
    two = _read_csv(tmp_path / "two" / "log.csv")
    assert len(one) == len(two) == 2
    for a, b in zip(one, two, strict=True):
        assert float(a["train_loss"]) == pytest.approx(float(b["train_loss"]), rel=1e-4)
        assert float(a["val_ccc_mean"]) == pytest.approx(float(b["val_ccc_mean"]), abs=1e-4)
    wa = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model_state"]
    wb = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["model_state"]
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4), k
    assert json.loads((tmp_path / "two" / "result.json").read_text())["world_size"] == 2
