"""``predict --stride k``: every k-th frame analysed, the frames between interpolated."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.errors import ConfigError
from vafusion.predict import predict
from vafusion.predict.stride import check_stride, interpolate_between


def test_interpolation_bridges_only_seen_neighbours():
    # synthetic curve (maths only): analysed every 3rd frame, face unseen at frame 6
    t = np.arange(10) * 0.04
    analysed = np.zeros(10, bool)
    analysed[::3] = True
    seen = analysed.copy()
    seen[6] = False
    values = np.full((10, 1), np.nan)
    values[seen, 0] = [0.0, 3.0, 9.0]  # frames 0, 3, 9
    out, filled = interpolate_between(values, t, seen, analysed)
    np.testing.assert_allclose(out[:4, 0], [0, 1, 2, 3])
    assert filled.tolist() == [False, True, True, False] + [False] * 6
    assert np.isnan(out[4:9, 0][~seen[4:9]]).all()  # no bridge over the unseen frame 6


def test_bad_stride_is_one_clear_error():
    for bad in (0, -1, 2.5, True, 26):
        with pytest.raises(ConfigError, match="--stride"):
            check_stride(bad)


def test_predict_with_stride_marks_interpolated_rows(clips_dir):
    path = clips_dir / "single_face.mp4"
    full = predict(path, jobs=1)
    strided = predict(path, jobs=1, stride=3)
    assert len(strided) == len(full) == 72
    assert "interpolated" not in full.columns
    interp = strided["interpolated"].to_numpy().astype(bool)
    frames = strided["frame"].to_numpy()
    assert not interp[frames % 3 == 0].any()  # analysed frames are not interpolated
    valid = strided["face_valid"].to_numpy().astype(bool)
    assert interp[valid].mean() == pytest.approx(2 / 3, abs=0.05)
    assert np.isfinite(strided.loc[valid, ["valence", "arousal"]].to_numpy()).all()
    # the curve stays close to the every-frame curve on this clip
    both = valid & full["face_valid"].to_numpy().astype(bool)
    diff = np.abs(
        strided[["valence", "arousal"]].to_numpy() - full[["valence", "arousal"]].to_numpy()
    )
    assert np.nanmean(diff[both]) < 0.05
