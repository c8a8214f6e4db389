"""Face-feature extraction on Dask: 2 workers against 1, same clips, same run.

Usage::

    .venv/bin/python benchmarks/bench_dask.py [CLIP ...] [--repeat 3] [--features facepose]

Two local Dask clusters are started first, one with 1 worker and one with 2 (single-threaded
worker processes); their start-up and each worker's model loading (one warm-up extraction)
are printed apart: they are paid once per cluster. Then every round extracts all clips
(default: the real clips in tests/data/clips, the bundled sample clip among them) into a
fresh store through :func:`vafusion.extraction.extract` with ``scheduler=`` each cluster,
1 worker then 2 workers, interleaved round by round. Long videos with faces are split into
chunk tasks, every task is prioritised by length (see vafusion.parallel.extract_chunks).
Printed: wall times per round, median and spread of the speed-up. Target: >= 1.7x.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests" / "data" / "clips"


def run(clips: list[Path], address: str, features: str) -> float:
    """Wall seconds to extract ``features`` of ``clips`` on the cluster at ``address``."""
    from vafusion.extraction import extract

    with tempfile.TemporaryDirectory() as store:
        t0 = time.perf_counter()
        report = extract(clips, store, features, scheduler=address)
        wall = time.perf_counter() - t0
    assert not report.failed, report.failed
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--features", default="facepose")
    args = ap.parse_args()
    from distributed import LocalCluster

    clips = args.clips or sorted(CLIPS.iterdir())
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print(f"# {len(clips)} clips, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    clusters = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        clusters[n] = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            dashboard_address=None,
            env=env,
            silence_logs=logging.ERROR,
        )
        started = time.perf_counter() - t0
        warm = run(clips[:n], clusters[n].scheduler_address, args.features)  # models load
        print(f"# {n} worker(s): cluster start {started:.1f} s, first (warm-up) run {warm:.1f} s")
    walls: dict[int, list[float]] = {1: [], 2: []}
    try:
        for r in range(args.repeat):
            for n in (1, 2):
                walls[n].append(run(clips, clusters[n].scheduler_address, args.features))
                print(
                    f"  round {r + 1}, {n} worker(s): {walls[n][-1]:.2f} s "
                    f"(1-min load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    finally:
        for c in clusters.values():
            c.close()
    ratio = np.asarray(walls[1]) / np.asarray(walls[2])
    print(
        f"{args.features}, {len(clips)} clips: 1 worker median {np.median(walls[1]):.2f} s, "
        f"2 workers median {np.median(walls[2]):.2f} s -> speed-up median {np.median(ratio):.2f}x "
        f"(per round {np.round(ratio, 2).tolist()})"
    )
    print(f"# load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
