"""The overlay video keeps the source's frame times (variable frame rate is not re-timed)."""

from __future__ import annotations

import numpy as np

from vafusion.io.media import scan
from vafusion.predict.overlay import write_overlay
from vafusion.predict.types import FaceCurve, VideoPrediction


def test_overlay_keeps_variable_frame_rate_timestamps(clips_dir, tmp_path):
    src = clips_dir / "face_noface.mov"  # a real variable-frame-rate clip
    info, t = scan(src)
    n = info.n_frames
    # synthetic curves (the drawing is not under test): a point moving on the circumplex
    va = np.stack([np.sin(np.arange(n) / 9), np.cos(np.arange(n) / 7)], 1).astype(np.float32)
    box = np.tile(np.array([10, 10, 60, 60], np.float32), (n, 1))
    pred = VideoPrediction(info, t, [FaceCurve(0, np.ones(n, bool), va, box)])
    out = write_overlay(pred, tmp_path / "overlay.mp4")
    out_info, out_t = scan(out)
    assert out_info.n_frames == n
    assert np.abs(out_t - t).max() < 1e-4  # each frame at its source time
    d = np.diff(out_t)
    assert d.max() / d.min() > 1.05  # still variable
