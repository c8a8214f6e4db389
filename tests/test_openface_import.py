"""OpenFace 2.0 / 2.2 CSV import as the ``facepose`` feature set, and its CLI command."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import OPENFACE_CSV

from vafusion.errors import AnnotationError
from vafusion.expression.openface import (
    AU_INTENSITY,
    AU_PRESENCE,
    import_openface,
    openface_columns,
    read_openface_csv,
)


@pytest.fixture
def real_csv(tmp_path) -> Path:
    dest = tmp_path / "OpenFace_Test.csv"
    shutil.copyfile(OPENFACE_CSV, dest)
    return dest


def test_full_layout_is_the_papers_714():
    assert len(openface_columns()) + 3 == 714  # + frame, face_id, timestamp


def test_real_openface_20_file(real_csv):
    df = read_openface_csv(real_csv)
    # header + 100 data rows (frames 1..100; the last line has no newline, so `wc -l` says
    # 100 lines and the data README's "99 frames" undercounts by one)
    assert len(df) == 100 and df["frame"].tolist() == list(range(1, 101))
    assert df.attrs["openface_layout"] == "2.0"
    t = import_openface(real_csv, 100)
    assert t.name == "facepose" and t.meta["source"] == "openface"
    assert t.n_rows == 100 and t.valid.all() and (t.face_id == 0).all()
    assert t.frame.tolist() == list(range(100))  # OpenFace frame k -> decoded frame k - 1
    assert [c for c in t.columns if c.endswith("_r")] == [f"{a}_r" for a in AU_INTENSITY]
    assert [c for c in t.columns if c.endswith("_c")] == [f"{a}_c" for a in AU_PRESENCE]
    assert "eye_lmk_x_0" not in t.columns and "gaze_angle_x" not in t.columns
    assert t.dim == 431 - 2  # every 2.0 column but frame and timestamp
    assert np.isfinite(t.values).all()
    raw = pd.read_csv(real_csv, skipinitialspace=True)
    np.testing.assert_allclose(t.values[:, t.columns.index("AU12_r")], raw["AU12_r"], rtol=1e-6)
    assert t.meta["frame_mismatch"] == {str(real_csv): 0}
    assert t.meta["tracks"][0]["frames"] == 100 and "mean_cx" in t.meta["tracks"][0]


def test_frame_mismatch_within_tolerance_is_aligned_by_frame(real_csv):
    longer = import_openface(real_csv, 103, tolerance=5)  # video has 3 more frames
    assert longer.n_rows == 103 and longer.valid[:100].all() and not longer.valid[100:].any()
    assert (longer.face_id[100:] == -1).all() and np.isnan(longer.values[100:]).all()
    assert longer.meta["frame_mismatch"][str(real_csv)] == -3
    shorter = import_openface(real_csv, 97, tolerance=5)  # CSV rows past the video dropped
    assert shorter.n_rows == 97 and shorter.valid.all()


def test_frame_mismatch_beyond_tolerance_is_refused(real_csv, clips_dir):
    with pytest.raises(AnnotationError, match=r"OpenFace_Test\.csv.*exceeds the tolerance"):
        import_openface(real_csv, 120, tolerance=5)
    with pytest.raises(AnnotationError, match="100 frames in the CSV vs 216 decoded"):
        import_openface(real_csv, clips_dir / "d18.mp4")


def _write_22_csv(path: Path, n_frames: int = 6) -> None:
    """An OpenFace 2.2-style CSV: ', ' separators, two faces, a failed row, some groups."""
    cols = ["frame", "face_id", "timestamp", "confidence", "success"]
    cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    cols += [f"eye_lmk_{a}_{i}" for a in "xy" for i in range(56)]
    cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    cols += [f"{a}_{i}" for a in "xy" for i in range(68)]
    cols += [f"{a}_r" for a in AU_INTENSITY] + [f"{a}_c" for a in AU_PRESENCE]
    rng = np.random.default_rng(0)
    lines = [", ".join(cols)]
    for frame in range(1, n_frames + 1):
        for fid, x0 in ((0, 100.0), (1, 400.0)):
            vals = rng.uniform(0.5, 1.0, len(cols))
            vals[:5] = [frame, fid, (frame - 1) / 30.0, 0.98, 1]
            xs = slice(cols.index("x_0"), cols.index("x_67") + 1)
            vals[xs] = x0 + rng.uniform(0, 80, 68)
            if (frame, fid) == (3, 1):
                vals[4] = 0  # tracking failed: OpenFace writes zeros
                vals[5:] = 0.0
            lines.append(", ".join(f"{v:g}" for v in vals))
    path.write_text("\n".join(lines) + "\n")


def test_openface_22_layout_with_two_faces(tmp_path):
    from vafusion.faces.subjects import select_face

    csv = tmp_path / "of22.csv"
    _write_22_csv(csv)
    df = read_openface_csv(csv)
    assert df.attrs["openface_layout"] == "2.2" and "gaze_angle_x" in df.columns
    t = import_openface(csv, 6)
    assert t.meta["openface_layout"] == "2.2"
    assert t.n_rows == 12 and sorted(set(t.face_id.tolist())) == [0, 1]
    assert "eye_lmk_x_55" in t.columns and "X_0" not in t.columns and "p_0" not in t.columns
    failed = (t.frame == 2) & (t.face_id == 1)
    assert not t.valid[failed].any() and np.isnan(t.values[failed]).all()  # NaN, not zeros
    assert t.valid.sum() == 11
    np.testing.assert_allclose(t.timestamp[t.face_id == 0], np.arange(6) / 30.0, atol=1e-5)
    left = select_face(t, how="left")
    right = select_face(t, how="right")
    assert (left.face_id == 0).all() and right.valid.tolist() == [1, 1, 0, 1, 1, 1]


def test_missing_column_groups_are_fine(real_csv, tmp_path):
    raw = pd.read_csv(real_csv, skipinitialspace=True)
    keep = ["frame", "success"] + [c for c in raw.columns if c.startswith(("pose_", "AU"))]
    sub = tmp_path / "pose_aus.csv"
    raw[keep].to_csv(sub, index=False)
    t = import_openface(sub, 100)
    assert t.columns[0] == "success" and t.columns[1] == "pose_Tx" and t.dim == 1 + 6 + 35
    assert "confidence" not in t.columns and t.valid.all()


def test_bad_files_are_refused_with_the_file_name(tmp_path):
    no_frame = tmp_path / "no_frame.csv"
    no_frame.write_text("a,b\n1,2\n")
    with pytest.raises(AnnotationError, match=r"no_frame\.csv.*no 'frame' column"):
        read_openface_csv(no_frame)
    text = tmp_path / "text.csv"
    text.write_text("frame, success, AU01_r\n1, 1, abc\n")
    with pytest.raises(AnnotationError, match="non-numeric"):
        read_openface_csv(text)
    dup = tmp_path / "dup.csv"
    dup.write_text("frame, success, AU01_r\n1, 1, 0.5\n1, 1, 0.7\n")
    with pytest.raises(AnnotationError, match="appears twice"):
        read_openface_csv(dup)
    with pytest.raises(AnnotationError, match="not found"):
        import_openface(tmp_path / "missing.csv", 10)


def test_cli_import_openface_writes_the_store(tmp_path, real_csv, clips_dir, capsys):
    from vafusion.cli import main
    from vafusion.store import FeatureStore

    video = clips_dir / "d18.mp4"  # 216 frames: make a matching CSV of the real rows
    raw = pd.read_csv(real_csv, skipinitialspace=True)
    rows = raw.iloc[np.arange(216) % 100].copy()
    rows["frame"] = np.arange(1, 217)
    csv = tmp_path / "d18.csv"
    rows.to_csv(csv, index=False)
    store = tmp_path / "store"
    with pytest.raises(SystemExit) as ok:
        main(["import-openface", str(csv), "--video", str(video), "--out", str(store)])
    assert ok.value.code in (0, None)
    assert "216 frames" in capsys.readouterr().out
    t = FeatureStore(store).get("d18", "facepose")
    assert t.n_rows == 216 and t.valid.all() and t.meta["source"] == "openface"
    with pytest.raises(SystemExit) as exc:
        main(["import-openface", str(real_csv), "--video", str(video), "--out", str(store)])
    assert exc.value.code == 1
    assert "exceeds the tolerance" in capsys.readouterr().err
