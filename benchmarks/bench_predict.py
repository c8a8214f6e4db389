"""Speed of ``vafusion predict`` (default model) on the bundled clip, and live-mode lag.

Run: ``.venv/bin/python benchmarks/bench_predict.py [--repeat 2] [--no-live]``

Prints the one-off model load time, the end-to-end processing time of the bundled clip
(decode, face tracking, expression network, smoothing, CSV/PNG/HTML/JSON written) and its
real-time factor (clip duration / processing time), then the live lag measured on the
clip served as an MPEG-TS stream over loopback TCP at 25 fps.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


def bench_offline(repeat: int) -> dict:
    from vafusion.io.media import probe
    from vafusion.predict.api import predict_to_folder
    from vafusion.predict.default_model import DefaultModel

    duration = probe(CLIP).duration_s
    t0 = time.perf_counter()
    model = DefaultModel()
    load_s = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            res = predict_to_folder([CLIP], out, model=model)[0]
            times.append(time.perf_counter() - t)
            assert res.error is None, res.error
    best = min(times)
    return {
        "clip_s": duration,
        "model_load_s": load_s,
        "process_s": times,
        "realtime_factor": duration / best,
        "stages_s": {k: round(v, 3) for k, v in res.prediction.stats.items()},
    }


def _serve(port: int, sent: dict, fps: int = 25) -> None:
    import av

    with av.open(str(CLIP)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
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
            pass


def bench_live() -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sent: dict[int, float] = {}
    server = threading.Thread(target=_serve, args=(port, sent), daemon=True)
    server.start()
    time.sleep(1.0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vafusion", "-q", "predict", "--live", f"tcp://127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    rows = [(time.monotonic(), json.loads(line)) for line in proc.stdout]
    proc.wait()
    lags = [t - sent[k] for t, r in rows if (k := int(round(r["timestamp"] * 25))) in sent]
    lags = np.asarray(lags[1:])
    return {
        "frames_sent": len(sent),
        "lines": len(rows),
        "dropped": rows[-1][1]["dropped"] if rows else None,
        "lag_median_s": float(np.median(lags)),
        "lag_p95_s": float(np.percentile(lags, 95)),
        "lag_max_s": float(lags.max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-live", action="store_true")
    args = ap.parse_args()
    off = bench_offline(args.repeat)
    print(f"model load: {off['model_load_s']:.2f} s (one-off)")
    print(
        f"predict {CLIP.name} ({off['clip_s']:.1f} s): "
        f"{', '.join(f'{t:.2f}' for t in off['process_s'])} s -> "
        f"real-time factor {off['realtime_factor']:.2f}x (best run)"
    )
    print(f"stages: {off['stages_s']}")
    if not args.no_live:
        live = bench_live()
        print(
            f"live (MPEG-TS over loopback TCP, 25 fps): lag median {live['lag_median_s']:.3f} s, "
            f"p95 {live['lag_p95_s']:.3f} s, max {live['lag_max_s']:.3f} s; "
            f"{live['lines']} lines for {live['frames_sent']} frames sent, "
            f"{live['dropped']} dropped"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
