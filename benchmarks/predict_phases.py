"""Where the time of ``vafusion predict`` goes: phases of one cold run, per-frame CPU costs.

Run::

    .venv/bin/python benchmarks/predict_phases.py [--clip CLIP] [--seconds 30] [--repeat 3]

Two measurements, each repeated (median printed):

1. **Phases** of ``vafusion predict CLIP`` with the defaults (chunks on every core), run
   in a fresh process: the wall-clock time at which each phase starts and ends, from the
   interpreter's start (imports, chunk planning, model load, first tracked frames back from
   the workers, end of the stream, fusion, outputs). Its process tree's CPU time is printed
   too: on a machine whose cores are all busy during the stream, the wall time is bounded
   below by CPU time / cores.
2. **Per-frame CPU** of the stages, each alone in this process, one thread: decoding and
   tracking one chunk as the default model's chunk workers do (``track_chunk`` with its
   tracker settings and 960-pixel frame cap: decode, RGB conversion,
   MediaPipe face mesh, alignment), and the expression network on the aligned faces in
   batches of 32 (what the main process runs on the stream).

Without ``--clip`` the clip is *synthetic*: ``--seconds`` of the bundled sample clip
(640x360, 23.976 fps, real faces) looped by benchmarks/loop_clip.py (video only).
The load averages are printed: quote them.
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
sys.path.insert(0, str(REPO / "benchmarks"))
from loop_clip import loop_clip  # noqa: E402

CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"

#: run in a fresh interpreter: predict with time stamps around its phases
PHASES_SCRIPT = r"""
import functools, json, sys, time
T0 = time.perf_counter()
marks = []
def mark(name):
    marks.append((name, time.perf_counter() - T0))
if __name__ == "__main__":
    import vafusion.parallel.local as local
    import vafusion.predict.default_model as dm
    import vafusion.predict.runner as runner
    mark("imports done")
    def wrap(owner, name, label):
        f = getattr(owner, name)
        @functools.wraps(f)
        def g(*a, **k):
            mark(label + " start")
            try:
                return f(*a, **k)
            finally:
                mark(label + " end")
        setattr(owner, name, g)
    wrap(runner, "load_model", "model load")
    wrap(runner, "write_outputs", "outputs")
    wrap(dm.DefaultModel, "tables_to_curves", "fusion")
    stream = local.ChunkPool.stream
    def timed_stream(self, *a, **k):
        first = True
        for item in stream(self, *a, **k):
            if first and item[0] == "frames":
                mark("first tracked frames")
                first = False
            yield item
        mark("stream end")
    local.ChunkPool.stream = timed_stream
    from vafusion.cli import main
    sys.argv = ["vafusion", "-q", "predict", sys.argv[1], "--out", sys.argv[2]]
    try:
        main()  # as the console script runs it (the heap is frozen for exit)
    except SystemExit as exc:
        assert not exc.code, exc.code
    mark("done")
    print("PHASES " + json.dumps(marks))
"""


def phases_once(clip: Path) -> tuple[dict[str, float], float, float]:
    """(phase -> seconds since start, wall seconds, CPU seconds of the process tree)."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-c", PHASES_SCRIPT, str(clip), out], capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert p.returncode == 0, p.stderr[-2000:]
    line = [x for x in p.stdout.splitlines() if x.startswith("PHASES ")][-1]
    marks = dict(json.loads(line[len("PHASES ") :]))
    # worker processes are children of the fork server, not of the predict process: their
    # CPU time is not in RUSAGE_CHILDREN (see the per-frame measurement instead)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return marks, wall, cpu


def cpu_now() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def per_frame_costs(clip: Path) -> dict[str, float]:
    """CPU ms per frame of a chunk worker's tracking and of the expression network."""
    import cv2

    from vafusion.expression.minixception_backbone import MiniXceptionBackbone
    from vafusion.parallel.chunks import track_chunk, worker_tracker
    from vafusion.parallel.local import chunk_plan
    from vafusion.predict.default_model import DefaultModel, DefaultModelConfig

    cv2.setNumThreads(1)
    chunk = chunk_plan(clip, 2)[0]
    # the default model's tracker settings and frame cap, as its chunk workers run them
    tracker, max_side = DefaultModel.default_tracker_config(), DefaultModelConfig().max_side
    worker_tracker(tracker)
    records: list = []
    c0, t0 = cpu_now(), time.perf_counter()
    track_chunk(clip, chunk, tracker, max_side, 1, on_batch=records.extend)
    track_cpu, track_wall = cpu_now() - c0, time.perf_counter() - t0
    faces = [f.aligned for r in records for f in (r.faces or [])]
    backbone = MiniXceptionBackbone()
    backbone(np.stack(faces[:32]))  # warm-up
    c0 = cpu_now()
    for i in range(0, len(faces), 32):
        backbone(np.stack(faces[i : i + 32]))  # preprocessing included
    fer_cpu = cpu_now() - c0
    return {
        "frames": len(records),
        "track_cpu_ms": 1000 * track_cpu / len(records),
        "track_wall_ms": 1000 * track_wall / len(records),
        "expression_cpu_ms": 1000 * fer_cpu / max(len(faces), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.clip is None:
            clip = loop_clip(CLIP, Path(tmp) / f"loop{args.seconds:g}.mp4", args.seconds)
            what = f"{args.seconds:g} s of the bundled clip, looped (synthetic)"
        else:
            clip, what = args.clip, args.clip.name
        from vafusion.io.media import probe

        duration = probe(clip).duration_s
        print(f"clip: {what}, {duration:.1f} s; {os.cpu_count()} cores")
        print(f"load average before: {os.getloadavg()}")
        runs = [phases_once(clip) for _ in range(args.repeat)]
        print("\nphases of a cold `vafusion predict` (seconds since start, median of rounds):")
        for name in runs[0][0]:
            vals = [r[0][name] for r in runs if name in r[0]]
            print(f"  {name:<24} {np.median(vals):6.2f}  ({min(vals):.2f}-{max(vals):.2f})")
        walls = [r[1] for r in runs]
        print(
            f"  wall {np.median(walls):.2f} s = {duration / np.median(walls):.2f}x real time; "
            f"CPU of the predict process (workers excluded) {np.median([r[2] for r in runs]):.2f} s"
        )
        costs = [per_frame_costs(clip) for _ in range(args.repeat)]
        print("\nper-frame CPU, each stage alone, one thread (median of rounds):")
        for key in ("track_cpu_ms", "track_wall_ms", "expression_cpu_ms"):
            vals = [c[key] for c in costs]
            print(f"  {key:<20} {np.median(vals):6.2f} ms  ({min(vals):.2f}-{max(vals):.2f})")
        fps = probe(clip).fps
        per_s = (np.median([c["track_cpu_ms"] + c["expression_cpu_ms"] for c in costs])) * fps
        print(
            f"  tracking + expression: {per_s / 1000:.3f} CPU s per second of video at "
            f"{fps:.2f} fps -> at most {2000 / per_s:.1f}x real time on 2 cores before "
            "any fixed cost (imports, start-up, fusion, outputs)"
        )
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
