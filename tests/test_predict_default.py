"""predict with the default model on the real test clips (real models, no mocks)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from tests.conftest import CLIP_FRAMES

from vafusion.fileio import safe_stem
from vafusion.predict.api import predict, predict_to_folder

pytestmark = pytest.mark.slow

CLIPS = ["single_face.mp4", "no_face.mp4", "face_noface.mov"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, clips_dir):
    work = tmp_path_factory.mktemp("predict")
    videos = [clips_dir / c for c in CLIPS]
    bad = work / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    out = work / "out"
    results = predict_to_folder([*videos, bad], out, face="main", overlay=True)
    return out, results


def test_rows_equal_decoded_frames_and_nan_where_no_face(run):
    out, results = run
    for name in CLIPS:
        stem = name.rsplit(".", 1)[0]
        df = pd.read_csv(out / f"{stem}.csv")
        assert list(df.columns) == [
            "frame",
            "timestamp",
            "face_id",
            "face_valid",
            "valence",
            "arousal",
            "confidence",
            "source",
        ]
        assert len(df) == CLIP_FRAMES[name]
        assert (df["frame"].to_numpy() == np.arange(len(df))).all()
        assert (df["valence"].isna() == (df["face_valid"] == 0)).all(), "valence needs a face"
        voice = df["source"] == "voice"
        assert (df["arousal"].isna() == ((df["face_valid"] == 0) & ~voice)).all()
        ok = df[df["face_valid"] == 1]
        assert ok["valence"].between(-1, 1).all() and ok["arousal"].between(-1, 1).all()
        for ext in ("png", "html", "json"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
        assert (out / f"{stem}_overlay.mp4").stat().st_size > 0


def test_face_present_clips_have_faces_and_face_leaving(run):
    out, _ = run
    single = pd.read_csv(out / "single_face.csv")
    assert single["face_valid"].mean() > 0.9
    leaving = pd.read_csv(out / "face_noface.csv")
    valid = leaving["face_valid"].to_numpy()
    assert valid[:20].all() and not valid[-20:].any(), "face leaves the frame half way"


def test_no_face_clip_completes_with_warning(run):
    out, results = run
    res = next(r for r in results if r.video.endswith("no_face.mp4"))
    assert res.error is None
    summary = json.loads((out / "no_face.json").read_text())
    assert any("no face" in w for w in summary["warnings"])
    assert summary["faces"][0]["stats"]["valid_frames"] == 0
    assert summary["faces"][0]["stress"]["stress_index"] is None
    df = pd.read_csv(out / "no_face.csv")
    assert df["valence"].isna().all() and (df["face_id"] == -1).all()


def test_bad_input_is_one_error_naming_the_file_others_processed(run):
    out, results = run
    bad = [r for r in results if r.error]
    assert len(bad) == 1 and "broken.mp4" in bad[0].error and "\n" not in bad[0].error
    assert not (out / "broken.csv").exists()
    assert sum(r.error is None for r in results) == len(CLIPS)


def test_summary_json_is_strict_and_has_stress(run):
    out, _ = run
    text = (out / "single_face.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    stress = summary["faces"][0]["stress"]
    assert "not a medical" in stress["disclaimer"]
    assert abs(sum(stress["quadrant_share"].values()) - 1.0) < 1e-6
    assert summary["processing"]["realtime_factor"] > 0


def test_python_api_dataframe_indexed_by_time(tmp_path, clips_dir):
    shutil.copyfile(clips_dir / "d0.mp4", tmp_path / "d0.mp4")
    df = predict(tmp_path / "d0.mp4", out=tmp_path / "res", face="all")
    assert df.index.name == "time"
    assert len(df) % CLIP_FRAMES["d0.mp4"] == 0 and len(df) >= CLIP_FRAMES["d0.mp4"]
    assert (tmp_path / "res" / "d0.html").exists()
    assert safe_stem("../../x") == "x"


@pytest.fixture(scope="module")
def two_face_video(tmp_path_factory, clips_dir):
    """Wolfgang (left) and d18 (right) side by side; the right face blacked out in 40-45."""
    from media_factory import two_face_video as make_two_face_video

    return make_two_face_video(tmp_path_factory.mktemp("two") / "two.mp4", clips_dir, 72)


def test_face_selection_left_right_all_uses_shared_rules(two_face_video):
    from vafusion.predict.default_model import DefaultModel

    model = DefaultModel()
    try:
        preds = {how: model.predict_video(two_face_video, face=how) for how in ("left", "right")}
        both = model.predict_video(two_face_video, face="all")
    finally:
        model.close()
    n = len(both.timestamps)
    cx = {}
    for how, pred in preds.items():
        (fc,) = pred.faces
        assert len(fc.valid) == n and fc.face_id >= 0
        assert (np.isnan(fc.va[:, 0]) == ~fc.valid).all(), "NaN exactly where no face"
        cx[how] = np.nanmean((fc.bbox[:, 0] + fc.bbox[:, 2]) / 2)
    assert cx["left"] < 640 < cx["right"], "left/right follow the boxes' mean centre"
    right = preds["right"].faces[0]
    assert not right.valid[41:45].any() and right.valid[:35].all(), "occluded frames missing"
    assert sorted(f.face_id for f in both.faces) == sorted(
        [preds["left"].faces[0].face_id, preds["right"].faces[0].face_id]
    )
    df = both.to_frame()
    assert len(df) == 2 * n and df["valence"].isna().sum() == sum(
        (~f.valid).sum() for f in both.faces
    )
