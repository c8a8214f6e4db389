"""Crash safety and determinism, through the real CLI.

- ``vafusion train`` killed with SIGKILL part way, then ``--resume``: the same weights and
  the same per-epoch log as an uninterrupted run.
- ``vafusion predict`` killed with SIGKILL part way: every output file present is complete
  (atomic writes; temporary files are hidden ``.*.tmp``), and a rerun completes it.
- Same inputs + config + seed: byte-identical features (extract twice) and identical CPU
  training results.

(SIGKILL of ``vafusion extract`` + rerun is covered by tests/test_extract_runs.py.)
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from train_helpers import write_synthetic_affwild2

PY = sys.executable
DIMS = {"audio": 16, "expression": 12, "facepose": 20}


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _cmd(*args):
    return [PY, "-m", "vafusion", *map(str, args)]


def _run(*args, timeout=600):
    p = subprocess.run(_cmd(*args), capture_output=True, text=True, env=_env(), timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def _kill_when(args, ready, timeout=300):
    """Start the command, SIGKILL it as soon as ``ready()``; return True if it was running."""
    proc = subprocess.Popen(
        _cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env()
    )
    t0 = time.monotonic()
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() - t0 > timeout:
                break
            time.sleep(0.05)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    return running


def _epochs_logged(run: Path) -> int:
    try:
        with open(run / "log.csv", newline="") as fh:
            return len(list(csv.DictReader(fh)))
    except (FileNotFoundError, csv.Error):
        return 0


def _log(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    drop = ("epoch_seconds", "load_share")  # wall-clock columns
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model_state"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_affwild2(root / "aff", root / "store", DIMS, n_train=8, n_val=2,
                             frames=(300, 400))  # fmt: skip
    (root / "cfg.yaml").write_text(
        "model: {name: fusion-gru}\nlr: 0.001\nnum_threads: 1\npatience: 0\nprogress: false\n"
    )
    return root


EPOCHS = 6


def _train_args(synth, out, *extra):
    return ("train", "--data", synth / "aff", "--features", synth / "store", "--out", out,
            "--config", synth / "cfg.yaml", "--epochs", EPOCHS, "--batch-size", 16,
            "--seed", 3, *extra)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "a"
    _run(*_train_args(synth, out))
    return out


def test_same_seed_same_training_result(synth, uninterrupted, tmp_path):
    out = tmp_path / "b"
    _run(*_train_args(synth, out))
    a, b = _state(uninterrupted / "last.pt"), _state(out / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _log(uninterrupted) == _log(out)
    ra = json.loads((uninterrupted / "result.json").read_text())
    rb = json.loads((out / "result.json").read_text())
    assert ra["best_epoch"] == rb["best_epoch"]


def test_sigkill_train_then_resume_equals_uninterrupted(synth, uninterrupted, tmp_path):
    out = tmp_path / "killed"
    args = _train_args(synth, out)
    assert _kill_when(args, lambda: _epochs_logged(out) >= 2), "training ended before the kill"
    done = _epochs_logged(out)
    assert 2 <= done < EPOCHS
    # what the kill left behind is readable (atomic checkpoint), no stray temp files count
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] + 1 >= done
    p = _run(*args, "--resume")
    assert "Traceback" not in p.stderr
    a, b = _state(uninterrupted / "last.pt"), _state(out / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"
    assert _log(uninterrupted) == _log(out)
    assert not [f for f in out.iterdir() if f.name.endswith(".tmp") and not f.name.startswith(".")]


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_sigkill_predict_leaves_no_partial_output(tmp_path, clips_dir, sample_clip):
    out = tmp_path / "out"
    videos = [clips_dir / "single_face.mp4", sample_clip]
    args = ("predict", *videos, "--out", out, "-j", "1")
    first = out / "single_face.json"  # written last for a video: the first one is complete
    assert _kill_when(args, first.exists), "predict ended before the kill"
    expected = {"single_face": 72, "WolfgangLanger_Pexels": 472}
    present = sorted(f.name for f in out.iterdir())
    for f in out.iterdir():
        if f.name.startswith("."):  # an interrupted atomic write: hidden temp, never final
            assert f.name.endswith(".tmp"), present
            continue
        stem, ext = f.name.rsplit(".", 1)
        assert stem in expected and ext in ("csv", "json", "png", "html"), present
        if ext == "csv":
            rows = _read_rows(f)
            assert len(rows) == expected[stem] and rows[-1]["frame"] == str(expected[stem] - 1)
        elif ext == "json":
            assert json.loads(f.read_text())["n_frames"] == expected[stem]
        elif ext == "html":
            assert f.read_text().rstrip().endswith("</html>")
        else:
            assert f.read_bytes().endswith(b"IEND\xaeB`\x82")
    assert {f"single_face.{e}" for e in ("csv", "json", "png", "html")} <= set(present)
    before = (out / "single_face.csv").read_bytes()
    # the rerun completes everything and reproduces the same numbers
    _run(*args)
    assert (out / "single_face.csv").read_bytes() == before
    rows = _read_rows(out / "WolfgangLanger_Pexels.csv")
    assert len(rows) == 472


def test_same_inputs_same_features_bytes(tmp_path, clips_dir):
    """Extract audio+facepose+expression twice into two stores: identical arrays, bytewise."""
    video = clips_dir / "single_face.mp4"
    stores = [tmp_path / "s1", tmp_path / "s2"]
    for s in stores:
        _run("extract", video, "--out", s, "--features", "audio,facepose,expression")
    files = [sorted(p.relative_to(s) for p in s.rglob("*.npy")) for s in stores]
    assert files[0] == files[1] and len(files[0]) >= 12
    for rel in files[0]:
        assert (stores[0] / rel).read_bytes() == (stores[1] / rel).read_bytes(), rel
