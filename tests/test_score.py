"""``vafusion score``: predictions vs labels (synthetic series, labelled as such: maths only)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vafusion.cli import app
from vafusion.predict.score import score
from vafusion.train.metrics import ccc


def _pred_csv(path, va, face_id=0):
    n = len(va)
    pd.DataFrame(
        {
            "frame": np.arange(n),
            "timestamp": np.arange(n) / 25,
            "face_id": face_id,
            "face_valid": 1,
            "valence": va[:, 0],
            "arousal": va[:, 1],
        }
    ).to_csv(path, index=False)


def _affwild_txt(path, va):
    path.write_text("valence,arousal\n" + "".join(f"{v:.4f},{a:.4f}\n" for v, a in va))


@pytest.fixture
def synthetic(tmp_path):
    rng = np.random.default_rng(0)
    preds, labels = tmp_path / "pred", tmp_path / "labels"
    preds.mkdir()
    labels.mkdir()
    truth = {}
    for name, n in (("a", 100), ("b", 60)):
        y = np.clip(rng.normal(0.1, 0.3, (n, 2)), -1, 1)
        p = np.clip(0.5 * y + rng.normal(0, 0.1, (n, 2)), -1, 1)
        truth[name] = (p, y)
        _pred_csv(preds / f"{name}.csv", p)
        y_file = y.copy()
        y_file[:5] = -5.0  # unannotated frames must be excluded
        _affwild_txt(labels / f"{name}.txt", y_file)
    _pred_csv(preds / "orphan.csv", np.zeros((10, 2)))
    _affwild_txt(labels / "nopred.txt", np.zeros((10, 2)))
    return preds, labels, truth


def test_per_video_and_pooled_ccc_match_the_one_implementation(synthetic):
    preds, labels, truth = synthetic
    rep = score(preds, labels, "affwild2")
    assert [r["video"] for r in rep.videos] == ["a", "b"]
    for row in rep.videos:
        p, y = truth[row["video"]]
        assert row["scored_frames"] == len(p) - 5
        assert row["ccc_valence"] == pytest.approx(ccc(p[5:, 0], y[5:, 0]), abs=1e-3)
        r = np.corrcoef(p[5:, 1], y[5:, 1])[0, 1]
        assert row["pearson_arousal"] == pytest.approx(r, abs=1e-3)
        assert row["rmse_arousal"] == pytest.approx(
            np.sqrt(np.mean((p[5:, 1] - y[5:, 1]) ** 2)), abs=1e-3
        )
    p = np.concatenate([truth[k][0][5:] for k in "ab"])
    y = np.concatenate([truth[k][1][5:] for k in "ab"])
    assert rep.pooled["ccc_arousal"] == pytest.approx(ccc(p[:, 1], y[:, 1]), abs=1e-3)
    assert rep.pooled["scored_frames"] == len(p)
    assert rep.missing_predictions == ["nopred"] and rep.missing_labels == ["orphan"]


def test_afewva_json_rescaled_and_length_mismatch_refused(tmp_path):
    labels, preds = tmp_path / "afew", tmp_path / "pred"
    (labels / "clip1").mkdir(parents=True)
    (labels / "clip2").mkdir(parents=True)
    preds.mkdir()
    va = np.array([[v, -v] for v in range(-10, 11)], dtype=float)
    frames = {f"{i + 1:05d}": {"valence": int(v), "arousal": int(a)} for i, (v, a) in enumerate(va)}
    for clip in ("clip1", "clip2"):
        (labels / clip / f"{clip}.json").write_text(
            json.dumps({"video_id": clip, "frames": frames})
        )
    _pred_csv(preds / "clip1.csv", va / 10.0)  # exact on -1..1: CCC 1 only if rescaled
    _pred_csv(preds / "clip2.csv", np.zeros((200, 2)))  # 200 frames vs 21 labels
    rep = score(preds, labels, "afewva")
    (row,) = rep.videos
    assert row["ccc_valence"] == pytest.approx(1.0) and row["rmse_arousal"] < 1e-6
    assert len(rep.errors) == 1 and "clip2.json" in rep.errors[0]


def test_cli_prints_and_writes(synthetic, tmp_path):
    preds, labels, _ = synthetic
    res = CliRunner().invoke(app, ["score", str(preds), str(labels), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "POOLED" in res.output and "orphan" in res.output
    table = pd.read_csv(tmp_path / "s" / "scores.csv")
    assert list(table["video"]) == ["a", "b", "POOLED"]
    doc = json.loads((tmp_path / "s" / "scores.json").read_text())
    assert doc["pooled"]["videos"] == 2
    bad = CliRunner().invoke(app, ["score", str(preds), str(labels), "--format", "nope"])
    assert bad.exit_code != 0 and "--format" in str(bad.exception)
