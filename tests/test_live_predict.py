"""Live mode on a real stream served on loopback by the test (MPEG-TS over TCP, 25 fps)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from vafusion.predict.live import LatestFrameSlot

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(clip, port: int, ready, results, fps: int = 25) -> None:
    """Re-encode ``clip`` (H.264, zero latency) into MPEG-TS on tcp://127.0.0.1:port, paced.

    Runs in its own process: PyAV holds the GIL while it waits for the client to connect,
    which would stall a test thread. Puts ``{frame index: monotonic send time}`` on
    ``results`` when done.
    """
    sent: dict[int, float] = {}
    with av.open(str(clip)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    ready.set()
    with av.open(
        f"tcp://127.0.0.1:{port}?listen=1",
        "w",
        format="mpegts",
        timeout=60,
        container_options={"flush_packets": "1"},
    ) as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height = frames[0].shape[1], frames[0].shape[0]
        st.pix_fmt = "yuv420p"
        st.options = {"tune": "zerolatency", "preset": "ultrafast", "g": "25"}
        t0 = time.monotonic()
        try:
            for i, img in enumerate(frames):
                delay = t0 + i / fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = i
                sent[i] = time.monotonic()
                for p in st.encode(vf):
                    out.mux(p)
            for p in st.encode():
                out.mux(p)
        except (OSError, av.error.FFmpegError):
            pass  # client went away
    results.put(sent)


def test_latest_frame_slot_drops_instead_of_queueing():
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(i)
    alive, item = slot.get()
    assert alive and item == 4 and slot.overwritten == 4
    slot.close()
    assert slot.get(timeout=0.01) == (False, None)


def test_live_tcp_stream_bounded_lag(clips_dir):
    import multiprocessing as mp

    port = _free_port()
    ctx = mp.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    server = ctx.Process(
        target=_serve, args=(clips_dir / "d20.mp4", port, ready, results), daemon=True
    )
    server.start()
    assert ready.wait(60), "loopback server did not start"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vafusion", "-q", "predict", "--live", f"tcp://127.0.0.1:{port}"],
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
        assert set(rec) >= {"timestamp", "face_id", "valence", "arousal"}
        if rec["valence"] is not None:
            assert -1 <= rec["valence"] <= 1 and -1 <= rec["arousal"] <= 1
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
