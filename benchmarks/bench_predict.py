"""Speed of ``vafusion predict`` (default model) on the bundled clip, and live-mode lag.

Run: ``.venv/bin/python benchmarks/bench_predict.py [--repeat 5] [--live-rounds 3] [--no-live]``

Prints the one-off model load time, the end-to-end processing time of the bundled clip
(decode, face tracking, expression network, smoothing, CSV/PNG/HTML/JSON written with
thumbnails) for each round with the model loaded once, its real-time factor (clip duration
/ processing time) for the median and the best round, then the live lag measured on the
clip served as an MPEG-TS stream over loopback TCP at 25 fps (median over rounds). The
load average is printed before and after: on a shared machine, quote it with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
    times, loads = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            res = predict_to_folder([CLIP], out, model=model)[0]
            times.append(time.perf_counter() - t)
            loads.append(os.getloadavg()[0])
            assert res.error is None, res.error
    return {
        "clip_s": duration,
        "model_load_s": load_s,
        "process_s": times,
        "load_1min": loads,
        "realtime_factor_median": duration / float(np.median(times)),
        "realtime_factor_best": duration / min(times),
        "stages_s": {k: round(v, 3) for k, v in res.prediction.stats.items()},
    }


def bench_live() -> dict:
    from vafusion.io.loopback import start_server

    url, server, results = start_server(CLIP)
    # the client loads its model (seconds) before connecting; the server decodes the clip
    # (about a second) and listens by then; time.monotonic is system-wide
    proc = subprocess.Popen(
        [sys.executable, "-m", "vafusion", "-q", "predict", "--live", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    rows = [(time.monotonic(), json.loads(line)) for line in proc.stdout]
    proc.wait()
    sent = results.get(timeout=60)
    server.join(timeout=10)
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
    ap.add_argument("--repeat", type=int, default=5, help="offline rounds (model loaded once)")
    ap.add_argument("--live-rounds", type=int, default=3)
    ap.add_argument("--no-live", action="store_true")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    off = bench_offline(args.repeat)
    print(f"model load: {off['model_load_s']:.2f} s (one-off)")
    print(
        f"predict {CLIP.name} ({off['clip_s']:.1f} s): "
        f"{', '.join(f'{t:.2f}' for t in off['process_s'])} s "
        f"(1-min load {', '.join(f'{x:.1f}' for x in off['load_1min'])}) -> "
        f"real-time factor median {off['realtime_factor_median']:.2f}x, "
        f"best {off['realtime_factor_best']:.2f}x"
    )
    print(f"stages (last round): {off['stages_s']}")
    if not args.no_live:
        runs = []
        for _ in range(args.live_rounds):
            live = bench_live()
            runs.append(live)
            print(
                f"live (MPEG-TS over loopback TCP, 25 fps): lag median "
                f"{live['lag_median_s']:.3f} s, p95 {live['lag_p95_s']:.3f} s, max "
                f"{live['lag_max_s']:.3f} s; {live['lines']} lines for {live['frames_sent']} "
                f"frames sent, {live['dropped']} dropped (1-min load {os.getloadavg()[0]:.1f})"
            )
        med = float(np.median([r["lag_median_s"] for r in runs]))
        print(f"live lag: median over {len(runs)} rounds of the per-round medians {med:.3f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
