"""Dataset layouts (Aff-Wild2, AFEW-VA, generic CSV) and frame reconciliation, on real clips."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from vafusion.datasets import (
    Tolerance,
    align_labels,
    detect_layout,
    load_dataset,
    reconcile,
    scan_images,
)
from vafusion.errors import AnnotationError
from vafusion.extraction import extract
from vafusion.store import FeatureStore


def _txt(path, rows: int, invalid=(), value=0.25):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["valence,arousal"]
    for i in range(rows):
        lines.append("-5,-5" if i in invalid else f"{value},{-value}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def affwild(tmp_path, clips_dir):
    root = tmp_path / "aff"
    (root / "videos" / "batch1").mkdir(parents=True)
    (root / "videos" / "batch2").mkdir(parents=True)
    shutil.copyfile(clips_dir / "d0.mp4", root / "videos" / "batch1" / "vidA.mp4")  # 78 frames
    shutil.copyfile(clips_dir / "single_face.mp4", root / "videos" / "batch2" / "vidB.mp4")  # 72
    shutil.copyfile(clips_dir / "d20.mp4", root / "videos" / "batch2" / "vidE.avi")  # 175
    va = root / "Annotations" / "VA_Estimation_Challenge"
    _txt(va / "Train_Set" / "vidA.txt", 78, invalid={0, 1, 2})
    _txt(va / "Train_Set" / "vidB_left.txt", 74)  # 2 extra rows: trimmed
    _txt(va / "Train_Set" / "vidB_right.txt", 70, value=-0.5)  # 2 missing rows: padded
    _txt(va / "Validation_Set" / "vidC.txt", 10)  # no such video
    _txt(va / "Validation_Set" / "vidE.txt", 120)  # 55 frames short: refused
    (va / "va_test_set_release.txt").write_text("vidA\nvidZ\n")
    return root


def test_affwild2_layout(affwild):
    assert detect_layout(affwild) == "affwild2"
    ds = load_dataset(affwild)
    assert ds.splits() == {"train": 3, "val": 2, "test": 1}  # vidA already known
    a = ds.get("vidA")
    assert a.split == "train" and a.subject == "main" and a.video_path.name == "vidA.mp4"
    assert a.labels.shape == (78, 2) and np.isnan(a.labels[:3]).all() and a.n_valid == 75
    left, right = ds.get("vidB_left"), ds.get("vidB_right")
    assert (left.video, left.subject) == ("vidB", "left")
    assert (right.video, right.subject) == ("vidB", "right")
    assert left.video_path == right.video_path
    assert ds.get("vidC").video_path is None
    z = ds.get("vidZ")
    assert z.split == "test" and z.labels is None
    assert [e.name for e in ds.entries("val")] == ["vidC", "vidE"]
    assert set(ds.videos()) == {"vidA", "vidB", "vidC", "vidE", "vidZ"}


def test_affwild2_malformed_annotation_is_reported(affwild):
    bad = affwild / "Annotations" / "VA_Estimation_Challenge" / "Train_Set" / "vidX.txt"
    bad.write_text("valence,arousal\n0.1,0.2\n0.3,oops\n")
    with pytest.raises(AnnotationError, match=r"vidX.txt: line 3: arousal 'oops'"):
        load_dataset(affwild)


def test_reconciliation_table_and_cli(affwild):
    ds = load_dataset(affwild)
    rows = {r.name: r for r in reconcile(ds)}
    assert (rows["vidA"].status, rows["vidA"].diff) == ("ok", 0)
    assert (rows["vidB_left"].status, rows["vidB_left"].diff) == ("trim", 2)
    assert (rows["vidB_right"].status, rows["vidB_right"].diff) == ("pad", -2)
    assert rows["vidC"].status == "no-video"
    assert (rows["vidE"].status, rows["vidE"].n_frames) == ("refused", 175)
    assert rows["vidZ"].status == "test"
    # a larger tolerance accepts vidE
    loose = {r.name: r.status for r in reconcile(ds, tolerance=Tolerance(60, 0.0))}
    assert loose["vidE"] == "pad"
    res = subprocess.run(
        [sys.executable, "-m", "vafusion", "datasets", "check", str(affwild)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stderr
    assert "vidB_left" in res.stdout and "refused" in res.stdout and "trim" in res.stdout


def test_reconcile_uses_store_frame_counts(affwild, tmp_path):
    store_dir = tmp_path / "store"
    report = extract([affwild / "videos"], store_dir)
    assert report.ok
    ds = load_dataset(affwild)
    rows = {r.name: r for r in reconcile(ds, FeatureStore(store_dir), probe=False)}
    assert rows["vidB_left"].n_frames == 72 and rows["vidE"].status == "refused"


def test_align_labels():
    labels = np.arange(20, dtype=np.float32).reshape(10, 2) / 100
    np.testing.assert_array_equal(align_labels(labels, 8), labels[:8])
    padded = align_labels(labels, 12)
    assert padded.shape == (12, 2) and np.isnan(padded[10:]).all()
    with pytest.raises(AnnotationError, match="10 annotation rows but 100 decoded frames"):
        align_labels(labels, 100)
    assert Tolerance().allowed(100) == 5 and Tolerance().allowed(10_000) == 100


@pytest.fixture
def afew(tmp_path, clips_dir):
    """An AFEW-VA-style clip: 12 PNG frames decoded from a real clip + its json."""
    import cv2

    from vafusion.io.media import iter_frames

    root = tmp_path / "afew"
    clip = root / "001"
    clip.mkdir(parents=True)
    for f in iter_frames(clips_dir / "d0.mp4", max_side=256):
        if f.index >= 12:
            break
        cv2.imwrite(str(clip / f"{f.index + 1:05d}.png"), cv2.cvtColor(f.image, cv2.COLOR_RGB2BGR))
    frames = {
        f"{i:05d}": {"valence": i - 6, "arousal": 10 - i, "landmarks": [[0, 0]] * 68}
        for i in range(1, 13)
        if i != 5
    }
    (clip / "001.json").write_text(json.dumps({"video_id": "001", "actor": "x", "frames": frames}))
    return root


def test_afew_va_layout_and_extraction(afew, tmp_path):
    assert detect_layout(afew) == "afew-va"
    ds = load_dataset(afew)
    e = ds.get("001")
    assert e.fps == 25.0 and e.labels.shape == (12, 2) and e.split == "train"
    np.testing.assert_allclose(e.labels[0], [-0.5, 0.9])
    assert np.isnan(e.labels[4]).all()
    info, ts = scan_images(e.video_path)
    assert info.n_frames == 12 and not info.has_audio and ts[1] == pytest.approx(0.04)
    store_dir = tmp_path / "store"
    report = extract([afew], store_dir)
    assert report.done == ["001"], report.failed
    t = FeatureStore(store_dir).get("001", "audio")
    assert t.values.shape == (12, 168) and not t.valid.any()
    assert [r.status for r in reconcile(ds, FeatureStore(store_dir))] == ["ok"]


def test_afew_va_bad_json(afew):
    (afew / "001" / "001.json").write_text('{"frames": {"00001": {"valence": 30, "arousal": 0}}}')
    with pytest.raises(AnnotationError, match="outside"):
        load_dataset(afew)


def test_generic_csv_layout(tmp_path, clips_dir):
    shutil.copyfile(clips_dir / "d0.mp4", tmp_path / "a.mp4")
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "a.csv").write_text("frame,valence,arousal\n0,0.1,0.2\n77,0.3,0.4\n")
    (tmp_path / "dataset.csv").write_text(
        "video,split,annotation,subject\na.mp4,train,ann/a.csv,\na.mp4,test,,left\n"
    )
    ds = load_dataset(tmp_path)
    assert ds.layout == "csv" and ds.splits() == {"train": 1, "test": 1}
    a = ds.get("a")
    assert a.labels.shape == (78, 2) and a.n_valid == 2 and a.video_path.name == "a.mp4"
    assert ds.get("a_left").subject == "left" and ds.get("a_left").labels is None
    assert [r.status for r in reconcile(ds)] == ["ok", "test"]
    (tmp_path / "dataset.csv").write_text("video,split\na.mp4,training\n")
    with pytest.raises(AnnotationError, match="line 2: split 'training'"):
        load_dataset(tmp_path)


def test_unknown_layout(tmp_path):
    with pytest.raises(AnnotationError, match="cannot tell the dataset layout"):
        load_dataset(tmp_path)
