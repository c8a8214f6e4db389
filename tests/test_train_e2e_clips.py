"""End to end on REAL clips: the test clips arranged in the Aff-Wild2 layout with SYNTHETIC
labels (smooth curves, some -5 lines, a ``_left``/``_right`` pair, one annotation 2 rows
short), then the real CLI: ``vafusion extract`` (audio, facepose, expression), ``vafusion
train`` (2 epochs, memory-mapped windows), ``vafusion evaluate``; metrics.json must agree
with the prediction files, and a checkpoint must carry the extractor configs so that
``predict --model`` reproduces the features it was trained on."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import CLIP_FRAMES

from vafusion.train.metrics import ccc

pytestmark = pytest.mark.slow
PY = sys.executable

#: split folder -> [(annotation name, clip, annotation rows)]
LAYOUT = {
    "Train_Set": [
        ("single_face", "single_face.mp4", 72),
        ("d18", "d18.mp4", 216),
        ("d20_left", "d20.mp4", 175),
        ("d20_right", "d20.mp4", 175),
    ],
    "Validation_Set": [
        ("d0", "d0.mp4", 76),  # 2 rows short of the 78 decoded frames: padded, unlabelled
        ("face_noface", "face_noface.mov", 169),
    ],
}


def _labels(n: int, seed: int) -> np.ndarray:
    """Smooth synthetic (valence, arousal) in (-0.9, 0.9) with a run of -5 lines."""
    t = np.arange(n) / 25.0
    lab = 0.8 * np.stack([np.sin(t / 1.3 + seed), np.cos(t / 2.1 + 2 * seed)], 1)
    lab[n // 3 : n // 3 + 7] = -5.0
    return lab


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("WORLD_SIZE", None)
    return env


def _cli(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [PY, "-m", "vafusion", *args], capture_output=True, text=True, env=_env(), timeout=timeout
    )
    assert p.returncode == 0, f"vafusion {args[0]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, clips_dir):
    """Layout + store + a 2-epoch fusion-gru run + its validation evaluation (built once)."""
    root = tmp_path_factory.mktemp("e2e")
    aff = root / "aff"
    (aff / "videos").mkdir(parents=True)
    ann = aff / "Annotations" / "VA_Estimation_Challenge"
    for k, (folder, items) in enumerate(LAYOUT.items()):
        (ann / folder).mkdir(parents=True)
        for j, (name, clip, rows) in enumerate(items):
            link = aff / "videos" / clip
            if not link.exists():
                link.symlink_to(clips_dir / clip)
            lab = _labels(rows, seed=10 * k + j)
            lines = ["valence,arousal", *(f"{a:.4f},{b:.4f}" for a, b in lab)]
            (ann / folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    store, run, ev = root / "store", root / "run", root / "eval"
    _cli("extract", str(aff / "videos"), "--out", str(store),
         "--features", "audio,facepose,expression")  # fmt: skip
    (root / "cfg.yaml").write_text("num_threads: 1\nprogress: false\npatience: 0\n")
    _cli("train", "--data", str(aff), "--features", str(store), "--out", str(run),
         "--epochs", "2", "--batch-size", "8", "--config", str(root / "cfg.yaml"),
         "--data-mmap")  # fmt: skip
    _cli("evaluate", str(run), "--data", str(aff), "--features", str(store),
         "--split", "validation", "--out", str(ev), "--format", "abaw")  # fmt: skip
    return {"root": root, "aff": aff, "store": store, "run": run, "eval": ev}


def test_metrics_json_matches_prediction_files(e2e):
    ev = e2e["eval"]
    metrics = json.loads((ev / "metrics.json").read_text())
    names = [name for name, _, _ in LAYOUT["Validation_Set"]]
    assert metrics["n_videos"] == len(names) and sorted(metrics["per_video"]) == sorted(names)
    preds, trues, n_used = [], [], 0
    for name, clip, rows in LAYOUT["Validation_Set"]:
        table = _read_csv(ev / "predictions" / f"{name}.csv")
        assert len(table) == CLIP_FRAMES[clip]  # one row per decoded frame
        assert [int(r["frame"]) for r in table] == list(range(CLIP_FRAMES[clip]))
        # true values are the annotation's, empty for -5 lines and frames past its end
        want = np.round(_labels(rows, seed=10 + names.index(name)), 4)  # as written
        got = np.array(
            [[float(r[c]) if r[c] != "" else np.nan for c in ("valence_true", "arousal_true")]
             for r in table]
        )  # fmt: skip
        expect = np.full((CLIP_FRAMES[clip], 2), np.nan)
        expect[:rows] = np.where(want == -5.0, np.nan, want)
        np.testing.assert_allclose(got, expect, atol=1e-6)
        p = np.array([[float(r["valence"]), float(r["arousal"])] for r in table])
        assert np.isfinite(p).all() and (np.abs(p) <= 1).all()
        used = int(np.isfinite(got).all(1).sum())
        assert metrics["per_video"][name]["n_frames"] == used
        assert metrics["per_video"][name]["ccc_valence"] == pytest.approx(
            ccc(p[:, 0], got[:, 0]), abs=2e-5
        )
        sub = (ev / "abaw" / f"{name}.txt").read_text().splitlines()
        assert sub[0] == "valence,arousal" and len(sub) == 1 + CLIP_FRAMES[clip]
        preds.append(p)
        trues.append(got)
        n_used += used
    # ABAW rule: CCC over all annotated frames of the split concatenated (-5 excluded)
    p, y = np.concatenate(preds), np.concatenate(trues)
    assert metrics["n_frames"] == n_used == sum(r - 7 for _, _, r in LAYOUT["Validation_Set"])
    assert metrics["ccc_valence"] == pytest.approx(ccc(p[:, 0], y[:, 0]), abs=2e-5)
    assert metrics["ccc_arousal"] == pytest.approx(ccc(p[:, 1], y[:, 1]), abs=2e-5)
    assert metrics["ccc_mean"] == pytest.approx(
        (metrics["ccc_valence"] + metrics["ccc_arousal"]) / 2, abs=1e-9
    )
    # plots: predicted (blue valence line) vs true per video, and the split's scatter
    from PIL import Image

    for name in [*names, "scatter"]:
        img = np.asarray(Image.open(ev / "plots" / f"{name}.png").convert("RGB")).astype(int)
        if name != "scatter":
            blue = (np.abs(img - [31, 119, 180]).max(axis=2) <= 30).sum()
            assert blue > 200, name  # the predicted valence curve is drawn
    # the run itself: 2 epochs logged, both checkpoints
    log = _read_csv(e2e["run"] / "log.csv")
    assert [int(r["epoch"]) for r in log] == [1, 2]  # counted from 1, as on the console
    assert (e2e["run"] / "best.pt").is_file() and (e2e["run"] / "last.pt").is_file()


def test_mmap_and_ram_windows_are_identical_on_real_store(e2e):
    """The memory-mapped path reads exactly the features the in-RAM path packs, and the
    per-frame views equal select_face's dense tables (face sets, left/right pair)."""
    from vafusion.data import WindowData, fit_normalizer
    from vafusion.data.sources import load_split
    from vafusion.faces.subjects import select_face
    from vafusion.store import FeatureStore

    sets = {"audio": "audio", "expression": "expression", "facepose": "facepose"}
    videos, spec = load_split(e2e["aff"], e2e["store"], "train", sets)
    store = FeatureStore(e2e["store"], create=False)
    by_name = {v.name: v for v in videos}
    for name in ("d20_left", "d20_right", "single_face"):
        v = by_name[name]
        for mod in ("expression", "facepose"):
            dense = select_face(store.get(v.video, mod), v.n_frames, how=v.subject)
            got = np.asarray(v.features[mod])
            assert got.shape == dense.values.shape
            ok = dense.valid
            assert ok.any()  # these clips have a face
            assert np.array_equal(v.valid[mod], ok)
            np.testing.assert_array_equal(got[ok], dense.values[ok])
    norm = fit_normalizer(videos, spec.modalities)
    ram = WindowData(videos, spec, norm, in_memory=True)
    mm = WindowData(videos, spec, norm, in_memory=False)
    assert not mm.x and len(ram) == len(mm)
    idx = np.random.default_rng(0).permutation(len(ram))
    b1, b2 = ram.batch(idx), mm.batch(idx)
    assert b1.keys() == b2.keys()
    for k in b1:
        assert torch.equal(b1[k], b2[k]), k


def test_checkpoint_records_store_configs_and_predict_uses_them(e2e, clips_dir, tmp_path):
    from vafusion.predict.api import predict
    from vafusion.predict.checkpoint_model import CheckpointModel
    from vafusion.store import FeatureStore
    from vafusion.train.checkpoint import load_checkpoint

    store = FeatureStore(e2e["store"], create=False)
    ckpt = load_checkpoint(e2e["run"] / "best.pt")
    fc = ckpt["feature_configs"]
    assert sorted(fc) == ["audio", "expression", "facepose"]
    for fs, rec in fc.items():
        hashes = {e.extractor_hash for e in store.entries(feature_set=fs)}
        assert hashes == {rec["config_hash"]}
        assert rec["config"] == {
            k: v for k, v in store.entry_meta("d18", fs)["config"].items() if k != "aligned_dir"
        }
        assert rec["dim"] == ckpt["spec"]["dims"][fs]
    assert fc["audio"]["face_selection"] is None
    assert fc["facepose"]["face_selection"]["subjects"] == ["left", "main", "right"]

    model = CheckpointModel(e2e["run"])
    # the model rebuilt the whole recorded pipeline: same keys as the store's entries
    assert model.pipelines.first.keys() == {fs: rec["config_hash"] for fs, rec in fc.items()}
    # predict on a training clip == evaluate on the store's features of the same clip
    _cli("evaluate", str(e2e["run"]), "--data", str(e2e["aff"]), "--features",
         str(e2e["store"]), "--split", "train", "--out", str(tmp_path / "ev_train"))  # fmt: skip
    ref = _read_csv(tmp_path / "ev_train" / "predictions" / "single_face.csv")
    ref_va = np.array([[float(r["valence"]), float(r["arousal"])] for r in ref])
    df = predict(clips_dir / "single_face.mp4", out=tmp_path / "pred", model=e2e["run"])
    assert len(df) == CLIP_FRAMES["single_face.mp4"]
    face = df["face_valid"].to_numpy() == 1
    assert face.mean() > 0.5
    va = df[["valence", "arousal"]].to_numpy()
    assert np.isfinite(va[face]).all() and np.isnan(va[~face]).all()
    np.testing.assert_allclose(va[face], ref_va[face], atol=2e-5)


def test_predict_uses_non_default_extractor_config(clips_dir, tmp_path):
    """A store extracted with a non-default audio config: the checkpoint records it and
    predict rebuilds it (the default config would give other features and predictions)."""
    from vafusion.extraction import Pipeline, PipelineConfig, extract
    from vafusion.features.audio import AudioConfig
    from vafusion.predict.api import predict
    from vafusion.predict.checkpoint_model import CheckpointModel
    from vafusion.train import TrainConfig, evaluate, train
    from vafusion.train.checkpoint import load_checkpoint

    aff = tmp_path / "aff"
    (aff / "videos").mkdir(parents=True)
    ann = aff / "Annotations" / "VA_Estimation_Challenge" / "Train_Set"
    ann.mkdir(parents=True)
    for j, clip in enumerate(("d18.mp4", "d20.mp4")):
        (aff / "videos" / clip).symlink_to(clips_dir / clip)
        lab = _labels(CLIP_FRAMES[clip], seed=j)
        lines = ["valence,arousal", *(f"{a:.4f},{b:.4f}" for a, b in lab)]
        (ann / f"{Path(clip).stem}.txt").write_text("\n".join(lines) + "\n")
    cfg = AudioConfig(fmax=6000.0, min_coverage=0.3)
    with Pipeline(PipelineConfig.of("audio", {"audio": cfg})) as a, Pipeline("audio") as b:
        custom, default = a.keys()["audio"], b.keys()["audio"]
    assert custom != default
    report = extract([aff / "videos"], tmp_path / "store", ("audio",), configs={"audio": cfg})
    assert report.ok
    tc = TrainConfig(epochs=1, batch_size=8, num_threads=1, progress=False, patience=0)
    tc = TrainConfig(**{**tc.__dict__, "model": type(tc.model)(name="audio")})
    train(tc, aff, tmp_path / "store", tmp_path / "run")
    fc = load_checkpoint(tmp_path / "run" / "best.pt")["feature_configs"]
    assert fc["audio"]["config_hash"] == custom
    assert fc["audio"]["config"]["fmax"] == 6000.0
    model = CheckpointModel(tmp_path / "run")
    assert model.pipelines.first.keys() == {"audio": custom}
    assert model.pipelines.first.config.sets["audio"].fmax == 6000.0
    model.close()
    evaluate(tmp_path / "run", aff, tmp_path / "store", "train", tmp_path / "ev")
    ref = _read_csv(tmp_path / "ev" / "predictions" / "d18.csv")
    ref_va = np.array([[float(r["valence"]), float(r["arousal"])] for r in ref])
    df = predict(clips_dir / "d18.mp4", out=tmp_path / "pred", model=tmp_path / "run")
    ok = df["face_valid"].to_numpy() == 1
    assert ok.mean() > 0.9
    va = df[["valence", "arousal"]].to_numpy()
    np.testing.assert_allclose(va[ok], ref_va[ok], atol=2e-5)


def test_evaluate_and_predict_apply_the_checkpoint_smoothing(e2e, clips_dir, tmp_path):
    """One checkpoint, one curve: evaluate and predict --model both apply the smoothing the
    checkpoint carries (forced to a strong one here); --no-smooth gives the raw outputs."""
    from vafusion.predict.api import load_model, predict
    from vafusion.smoothing import Smoothing
    from vafusion.train import evaluate
    from vafusion.train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(e2e["run"] / "best.pt")
    assert Smoothing.from_dict(ckpt["smoothing"])  # training stored its tuned smoothing
    ckpt.pop("path")
    smoothed = tmp_path / "smoothed.pt"
    save_checkpoint(smoothed, {**ckpt, "smoothing": Smoothing((0.5, 1.0)).to_dict()})
    curves = {}
    for smooth in (True, False):
        ev = tmp_path / f"ev_{smooth}"
        m = evaluate(smoothed, e2e["aff"], e2e["store"], "train", ev, smooth=smooth)
        assert m["smoothing"]["applied"] is smooth and m["smoothing"]["tau_s"] == [0.5, 1.0]
        rows = _read_csv(ev / "predictions" / "single_face.csv")
        ref = np.array([[float(r["valence"]), float(r["arousal"])] for r in rows])
        model = load_model(smoothed, smooth=smooth)
        assert model.describe()["smoothing"]["applied"] is smooth
        df = predict(clips_dir / "single_face.mp4", model=model)
        face = df["face_valid"].to_numpy() == 1
        va = df[["valence", "arousal"]].to_numpy()
        np.testing.assert_allclose(va[face], ref[face], atol=2e-5)
        curves[smooth] = ref
    # the smoothing did something: smoother (smaller frame-to-frame steps) than the raw curve
    steps = {k: np.abs(np.diff(v, axis=0)).mean(0) for k, v in curves.items()}
    assert (steps[True] < 0.8 * steps[False]).all()


def test_predict_abaw_left_subject_equals_evaluate_abaw(e2e, clips_dir, tmp_path):
    """``predict --format abaw --face left`` on a two-person clip writes ``<stem>_left.txt``
    with the curve ``evaluate --format abaw`` writes for the ``_left`` annotation (same
    checkpoint, same smoothing) on the frames where the face is seen."""
    from vafusion.datasets.annotations import parse_va_txt
    from vafusion.predict.api import predict

    ev = tmp_path / "ev"
    _cli("evaluate", str(e2e["run"]), "--data", str(e2e["aff"]), "--features",
         str(e2e["store"]), "--split", "train", "--out", str(ev), "--format", "abaw")  # fmt: skip
    ref = parse_va_txt(ev / "abaw" / "d20_left.txt")
    assert len(ref) == CLIP_FRAMES["d20.mp4"]
    out = tmp_path / "sub"
    _cli("predict", str(clips_dir / "d20.mp4"), "--model", str(e2e["run"]), "--face", "left",
         "--format", "abaw", "--out", str(out))  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["d20_left.txt"]
    got = parse_va_txt(out / "d20_left.txt")
    df = predict(clips_dir / "d20.mp4", model=e2e["run"], face="left")
    face = df["face_valid"].to_numpy() == 1
    assert got.shape == ref.shape and face.mean() > 0.5
    np.testing.assert_allclose(got[face], ref[face], atol=3e-5)
