"""NaN models: invalid numeric options are refused, a diverging run stops with one line,
JSON outputs are strict, and a checkpoint with NaN weights is refused by predict/evaluate
(it would otherwise output NaN on frames marked valid)."""

from __future__ import annotations

import json

import pytest
import torch

from test_bad_inputs import assert_one_error, run_cli


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from train_helpers import write_synthetic_affwild2

    root = tmp_path_factory.mktemp("nan")
    write_synthetic_affwild2(
        root / "aff", root / "store", {"audio": 8}, n_train=2, n_val=1, frames=(60, 80)
    )
    return root


def _train(synth, out, *options):
    return run_cli("train", "--data", synth / "aff", "--features", synth / "store",
                   "--out", out, "--model", "audio", *options)  # fmt: skip


BAD_OPTIONS = {
    "lr_inf": (["--lr", "inf"], "lr must be a finite number > 0"),
    "lr_nan": (["--lr", "nan"], "lr must be a finite number > 0"),
    "lr_zero": (["--lr", "0"], "lr must be a finite number > 0"),
    "lr_negative": (["--lr", "-0.1"], "lr must be a finite number > 0"),
    "epochs_zero": (["--epochs", "0"], "epochs must be an integer >= 1"),
    "patience_negative": (["--patience", "-1"], "patience must be an integer >= 0"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_train_refuses_bad_numbers(synth, tmp_path, case):
    options, words = BAD_OPTIONS[case]
    out = tmp_path / "run"
    p = _train(synth, out, *options)
    assert_one_error(p, "", words)
    assert not out.exists(), "nothing is written for a refused option"


def test_ablate_refuses_bad_numbers(synth, tmp_path):
    p = run_cli("ablate", "--data", synth / "aff", "--features", synth / "store",
                "--out", tmp_path / "t", "--epochs", "0")  # fmt: skip
    assert_one_error(p, "", "epochs must be an integer >= 1")


def test_diverging_training_stops_with_one_line(synth, tmp_path):
    out = tmp_path / "run"
    p = _train(synth, out, "--lr", "1e30", "--epochs", "3")
    assert_one_error(p, "", "training diverged")
    assert "learning rate 1e+30" in p.stderr
    assert not (out / "result.json").exists()


def test_result_and_metrics_json_are_strict(synth, tmp_path):
    """No validation split -> no validation CCC: ``null`` in the JSON, never bare NaN."""
    import shutil

    aff = tmp_path / "aff"
    shutil.copytree(synth / "aff", aff)
    for f in aff.rglob("*"):
        if f.is_dir() and "valid" in f.name.lower():
            shutil.rmtree(f)
    out = tmp_path / "run"
    p = run_cli("train", "--data", aff, "--features", synth / "store", "--out", out,
                "--model", "audio", "--epochs", "1")  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    text = (out / "result.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in result.json"))


@pytest.fixture(scope="module")
def nan_checkpoint(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("nanrun") / "run"
    p = _train(synth, out, "--epochs", "1")
    assert p.returncode == 0, p.stderr[-2000:]
    ckpt = torch.load(out / "best.pt", weights_only=True)
    name = next(k for k, v in ckpt["model_state"].items() if v.is_floating_point())
    ckpt["model_state"][name] = torch.full_like(ckpt["model_state"][name], float("nan"))
    bad = out.parent / "diverged.pt"
    torch.save(ckpt, bad)
    return bad, name


def test_predict_refuses_a_nan_checkpoint(nan_checkpoint, clips_dir, tmp_path):
    bad, name = nan_checkpoint
    out = tmp_path / "pred"
    p = run_cli("predict", clips_dir / "d0.mp4", "--model", bad, "--out", out)
    assert_one_error(p, bad.name, "NaN or infinite weights")
    assert name in p.stderr
    assert not out.exists() or not list(out.glob("d0.*"))


def test_evaluate_refuses_a_nan_checkpoint(nan_checkpoint, synth, tmp_path):
    bad, _ = nan_checkpoint
    p = run_cli("evaluate", bad, "--data", synth / "aff", "--features", synth / "store",
                "--out", tmp_path / "ev")  # fmt: skip
    assert_one_error(p, bad.name, "NaN or infinite weights")
