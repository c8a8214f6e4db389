"""Where predict's main process takes its memory: RSS and Python stack over time.

Usage::

    .venv/bin/python benchmarks/memory_timeline.py VIDEO [--step-mb 8] [-- PREDICT OPTIONS]

Runs ``vafusion predict VIDEO`` in this process (the chunk workers are separate processes
and not sampled: see bench_memory.py for the whole tree) while a thread samples this
process's RSS and the main thread's stack every 20 ms. Printed: each sample whose RSS
differs from the last printed one by more than ``--step-mb``, with the innermost vafusion,
pandas and matplotlib frames of the stack at that moment, then the peak. A diagnostic for
developers: the stack is the one running when the memory moved, a hint, not a proof.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import traceback

LIBRARIES = ("vafusion", "pandas", "matplotlib")


def sample(main_id: int, samples: list, stop: threading.Event, period_s: float) -> None:
    """Append ``(time, rss MiB, stack text)`` to ``samples`` until ``stop`` is set."""
    import psutil

    proc = psutil.Process()
    while not stop.is_set():
        rss = proc.memory_info().rss / 2**20
        frame = sys._current_frames().get(main_id)
        stack = traceback.extract_stack(frame)[-12:] if frame is not None else []
        where = " < ".join(
            f"{f.name}:{f.lineno}"
            for f in reversed(stack)
            if any(k in f.filename for k in LIBRARIES)
        )
        samples.append((time.perf_counter(), rss, where[:200]))
        time.sleep(period_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--step-mb", type=float, default=8.0, help="print moves larger than this")
    ap.add_argument("predict_args", nargs="*", help="extra predict options (after --)")
    args = ap.parse_args()
    from vafusion.cli import app

    samples: list = []
    stop = threading.Event()
    thread = threading.Thread(
        target=sample, args=(threading.get_ident(), samples, stop, 0.02), daemon=True
    )
    thread.start()
    with tempfile.TemporaryDirectory() as out:
        argv = ["-q", "predict", args.video, "--out", out, *args.predict_args]
        try:
            app(argv)
        except SystemExit as exc:
            if exc.code:
                raise
    stop.set()
    thread.join()
    t0, last = samples[0][0], None
    for t, rss, where in samples:
        if last is None or abs(rss - last) > args.step_mb:
            print(f"{t - t0:8.2f} s {rss:7.0f} MiB  {where}")
            last = rss
    print(f"peak RSS of this process: {max(r for _, r, _ in samples):.0f} MiB")


if __name__ == "__main__":
    main()
