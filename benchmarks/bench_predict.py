"""Speed of ``vafusion predict`` (default model) from a cold start, and live-mode lag.

Run::

    .venv/bin/python benchmarks/bench_predict.py [--clip CLIP] [--seconds 30] [--repeat 3]
        [--live-rounds 3] [--no-live | --live-only]

Cold start: each round runs ``python -m vafusion predict CLIP --out DIR`` as a new process
and times it from process start to the files written (imports, model load, decoding,
face tracking, expression network, smoothing, CSV/PNG/HTML/JSON with thumbnails), in three
modes interleaved round by round so that load changes hit them alike:

* ``one-process``: ``-j 1`` (one video, one worker: decode | track | features in threads);
* ``chunks``: the default on this machine (the video's time chunks tracked in one worker
  process per core, see vafusion.parallel);
* ``chunks-stride2``: the same with ``--stride 2`` (every 2nd frame analysed).

The reference is real time: the real-time factor is the clip's duration / wall time
(median and min-max spread over the rounds). Without ``--clip`` the clip is *synthetic*:
``--seconds`` of the bundled sample clip (WolfgangLanger_Pexels.mp4, 640x360, 23.976 fps)
looped by benchmarks/loop_clip.py. The live lag is measured on the bundled clip served as
an MPEG-TS stream over loopback TCP at 25 fps. Load averages are printed: quote them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"
MODES = {
    "one-process": ["-j", "1"],
    "chunks": [],
    "chunks-stride2": ["--stride", "2"],
}


def cold_predict(clip: Path, extra: list[str]) -> tuple[float, float]:
    """Seconds from process start to ``vafusion predict`` having written its files, and
    the CPU seconds (user + system) of the predict process and the children it waited for:
    the isolated worker of ``-j 1`` is included, the chunk workers are not (they are
    children of multiprocessing's fork server; benchmarks/predict_phases.py gives their
    per-frame cost)."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "vafusion", "-q", "predict", str(clip), "--out", out, *extra],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert p.returncode == 0, p.stderr[-2000:]
        assert (Path(out) / f"{clip.stem}.json").is_file()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench_cold(clip: Path, repeat: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of every mode, ``repeat`` rounds interleaved (A B C A B C ...)."""
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    cold_predict(clip, ["-j", "1"])  # warm the page cache: files, not imports, are cold
    for r in range(repeat):
        for mode, extra in MODES.items():
            runs[mode].append(cold_predict(clip, extra))
            wall, cpu = runs[mode][-1]
            print(
                f"  round {r + 1} {mode}: {wall:.2f} s wall, {cpu:.2f} s CPU "
                f"(1-min load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return runs


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


def bench_predict_cold(args) -> None:
    """Cold-start rounds of predict on the clip; prints the real-time factors."""
    from vafusion.io.media import probe

    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(Path(__file__).parent))
        from loop_clip import benchmark_clip

        clip = benchmark_clip(args.clip, CLIP, args.seconds, tmp)
        info = probe(clip)
        print(
            f"clip: {clip.name}, {info.duration_s:.1f} s, {info.n_frames} frames, "
            f"{info.fps:.3f} fps"
        )
        runs = bench_cold(clip, args.repeat)
    for mode, r in runs.items():
        w, cpu = np.asarray(r).T
        rt = info.duration_s / w
        print(
            f"predict cold start, {mode:15s}: wall median {np.median(w):.2f} s -> "
            f"{np.median(rt):.2f}x real time (spread {rt.min():.2f}-{rt.max():.2f}x, "
            f"{len(w)} rounds); CPU median {np.median(cpu):.2f} s (chunk workers excluded)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, help="video to predict (default: synthetic loop)")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the looped clip")
    ap.add_argument("--repeat", type=int, default=3, help="cold-start rounds per mode")
    ap.add_argument("--live-rounds", type=int, default=3)
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--live-only", action="store_true", help="only the live-mode lag")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    if not args.live_only:
        bench_predict_cold(args)
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
