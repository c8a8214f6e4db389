"""Peak memory of ``vafusion predict`` against video length (is it flat?).

Usage::

    .venv/bin/python benchmarks/bench_memory.py [--seconds 60 600 3600] [-- PREDICT OPTIONS]

For each length, the bundled sample clip (19.7 s of real faces) is looped to that many
seconds by benchmarks/loop_clip.py -- a *synthetic* long video, video only -- and
``python -m vafusion predict`` runs on it as a new process. The memory of its whole process
tree (the main process, its chunk workers and the fork server) is sampled every 0.5 s as
PSS (proportional set size: pages shared between the processes, such as the libraries the
workers inherit from the fork server, are counted once in the total) and as USS (unique
set size: the memory private to each process, which other processes on the machine do
not change, unlike PSS); printed: the peaks of the tree's total PSS and total USS and of
its largest process's RSS, the wall time, and the growth between the shortest and the
longest run. The target is a one-hour video in at most
1 GiB. (Up to 30 s of video, the peak also grows with the chunk length: chunks are at
most 30 s long; compare runs longer than that.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"
MIB = 1024 * 1024


def tree_memory(proc) -> tuple[int, int, int]:
    """(total PSS, total USS, largest RSS) in bytes of ``proc`` (psutil.Process) and its
    descendants."""
    import psutil

    pss, uss, rss = [], [], []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            full = p.memory_full_info()
        except psutil.Error:
            continue
        pss.append(full.pss)
        uss.append(full.uss)
        rss.append(full.rss)
    return sum(pss), sum(uss), max(rss, default=0)


def peak_memory(cmd: list[str], period_s: float = 0.5) -> dict:
    """Run ``cmd``; its wall time and peak total PSS / total USS / largest RSS of its tree."""
    import psutil

    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(popen.pid)
    peak_total = peak_uss = peak_one = 0
    while popen.poll() is None:
        try:
            total, uss, one = tree_memory(proc)
        except psutil.Error:
            break
        peak_total, peak_uss, peak_one = (
            max(peak_total, total),
            max(peak_uss, uss),
            max(peak_one, one),
        )
        time.sleep(period_s)
    err = popen.communicate()[1]
    assert popen.returncode == 0, err[-2000:]
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "peak_total": peak_total, "peak_uss": peak_uss, "peak_one": peak_one}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0, 3600.0])
    ap.add_argument("predict_args", nargs="*", help="extra predict options (after --)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from loop_clip import loop_clip

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sec in args.seconds:
            clip = loop_clip(CLIP, Path(tmp) / f"looped_{sec:.0f}s.mp4", sec)
            out = Path(tmp) / f"out_{sec:.0f}"
            cmd = [sys.executable, "-m", "vafusion", "-q", "predict", str(clip), "--out", str(out)]
            r = peak_memory(cmd + list(args.predict_args))
            rows.append((sec, r))
            print(
                f"{sec:7.0f} s of video (synthetic loop): peak {r['peak_total'] / MIB:7.1f} MiB "
                f"total PSS, {r['peak_uss'] / MIB:7.1f} MiB total USS, "
                f"{r['peak_one'] / MIB:6.1f} MiB RSS of the largest process; "
                f"wall {r['wall_s']:.1f} s",
                flush=True,
            )
    if len(rows) > 1:
        (s0, r0), (s1, r1) = rows[0], rows[-1]
        for key in ("peak_total", "peak_uss"):
            grew = (r1[key] - r0[key]) / MIB
            what = "PSS" if key == "peak_total" else "USS"
            print(f"total peak {what} grew by {grew:.1f} MiB from {s0:.0f} s to {s1:.0f} s")


if __name__ == "__main__":
    main()
