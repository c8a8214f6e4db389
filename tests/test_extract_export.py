"""``vafusion export`` / ``store info``: one row per decoded frame, documented columns."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vafusion.errors import StoreError
from vafusion.extraction import extract
from vafusion.store import FeatureStore, export_video, frame_table

AUDIO_COLUMNS = [f"audio_mfcc_{i}" for i in range(40)] + [f"audio_mel_{i}" for i in range(128)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vafusion", *args], capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def audio_store(tmp_path_factory, clips_dir):
    out = tmp_path_factory.mktemp("exp") / "store"
    report = extract([clips_dir / "face_noface.mov", clips_dir / "d0.mp4"], out, features="audio")
    assert report.ok
    return out


def test_export_csv_rows_and_columns_via_cli(tmp_path, audio_store):
    out = tmp_path / "f.csv"
    res = _cli("export", str(audio_store), "--video", "face_noface", "--out", str(out))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert len(df) == 169  # decoded frames of the VFR HEVC clip
    assert list(df.columns) == ["frame", "timestamp", "audio_valid"] + AUDIO_COLUMNS
    assert df["frame"].tolist() == list(range(169))
    assert df["timestamp"].is_monotonic_increasing and df["timestamp"].iloc[0] == 0.0
    table = FeatureStore(audio_store).get("face_noface", "audio")
    np.testing.assert_allclose(df[AUDIO_COLUMNS].to_numpy(), table.values, rtol=1e-6)
    assert df["audio_valid"].tolist() == table.valid.astype(int).tolist()


def test_export_parquet_and_no_audio_clip(tmp_path, audio_store):
    out = export_video(audio_store, "d0", tmp_path / "d0.parquet")
    df = pd.read_parquet(out)
    assert len(df) == 78 and (df["audio_valid"] == 0).all()
    assert df[AUDIO_COLUMNS].isna().all().all()  # invalid rows are NaN, never zeros


def test_export_errors(tmp_path, audio_store):
    with pytest.raises(StoreError, match="no features for video 'nope'"):
        frame_table(audio_store, "nope")
    with pytest.raises(StoreError, match="no facepose"):
        frame_table(audio_store, "d0", "audio,facepose")
    res = _cli("export", str(audio_store), "--video", "d0", "--out", str(tmp_path / "x.txt"))
    assert res.returncode == 1 and res.stderr.startswith("error:") and "Traceback" not in res.stderr


def test_store_info_cli(audio_store):
    res = _cli("store", "info", str(audio_store), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["n_videos"] == 2 and info["feature_sets"]["audio"]["dim"] == 168
    assert {v["video"]: v["sets"]["audio"] for v in info["videos"]} == {
        "d0": [78, 168],
        "face_noface": [169, 168],
    }
    text = _cli("store", "info", str(audio_store)).stdout
    assert "face_noface" in text and "169x168" in text


@pytest.mark.slow
def test_export_with_facepose(tmp_path, clips_dir):
    out = tmp_path / "store"
    report = extract([clips_dir / "single_face.mp4"], out, features="audio,facepose")
    assert report.ok, report.failed
    df = frame_table(out, "single_face", face="main")
    assert len(df) == 72
    cols = list(df.columns)
    assert cols[:3] == ["frame", "timestamp", "audio_valid"]
    assert "face_valid" in cols and cols.index("face_valid") == 3 + 168
    assert df["face_valid"].sum() > 60
    from vafusion.store import dense_features

    dense = dense_features(out, "single_face", "facepose", face="main")
    assert dense.values.shape[0] == 72 and dense.valid.sum() == df["face_valid"].sum()
    all_faces = frame_table(out, "single_face", face="all")
    assert "face_id" in all_faces.columns and len(all_faces) >= 72


def test_dense_features(audio_store):
    from vafusion.store import dense_features

    t = dense_features(audio_store, "face_noface", "audio")
    assert t.values.shape == (169, 168) and t.frame.tolist() == list(range(169))
