"""Live mode on a real stream served on loopback by the test (MPEG-TS over TCP, 25 fps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from vafusion.io.loopback import start_server
from vafusion.predict.live import LatestFrameSlot

pytestmark = pytest.mark.slow


def test_latest_frame_slot_drops_instead_of_queueing():
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(i)
    alive, item = slot.get()
    assert alive and item == 4 and slot.overwritten == 4
    slot.close()
    assert slot.get(timeout=0.01) == (False, None)


def test_live_tcp_stream_bounded_lag(clips_dir):
    url, server, results = start_server(clips_dir / "d20.mp4", fps=25)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vafusion", "-q", "predict", "--live", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines = []
    for raw in proc.stdout:
        lines.append((time.monotonic(), json.loads(raw)))
    rc = proc.wait(timeout=60)
    sent = results.get(timeout=60)
    server.join(timeout=10)
    assert rc == 0
    assert len(lines) >= 5, "too few frames processed"
    assert lines[-1][1]["timestamp"] > 5.0, "did not follow the stream to its end"
    # lag: line written vs the frame handed to the encoder on the server side
    lags = []
    for t_out, rec in lines:
        k = int(round(rec["timestamp"] * 25))
        if k in sent:
            lags.append(t_out - sent[k])
        assert set(rec) >= {"timestamp", "face_id", "valence", "arousal", "confidence"}
        if rec["valence"] is not None:
            assert -1 <= rec["valence"] <= 1 and -1 <= rec["arousal"] <= 1
            assert 0 <= rec["confidence"] <= 1
    lags = np.asarray(lags[1:])  # after the first frame (stream probing, start-up)
    print(
        f"live lag over loopback: median {np.median(lags):.3f} s, "
        f"p95 {np.percentile(lags, 95):.3f} s, {len(lines)} lines, "
        f"{lines[-1][1]['dropped']} frames dropped"
    )
    # timestamps are on the stream's time axis (frames lost before the first key frame
    # the client decodes are not renumbered), so sent[k] is the right frame; measured
    # median ~0.1 s on the 2-core machine at load ~2-4 (benchmarks/results/predict.md);
    # the goal is < 0.5 s, the bound leaves room for a busy CI machine
    assert np.median(lags) < 0.75
    assert max(k for k in (int(round(r["timestamp"] * 25)) for _, r in lines)) < len(sent)
    assert any(rec["face_id"] is not None for _, rec in lines)
