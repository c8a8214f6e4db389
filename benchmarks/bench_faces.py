"""Face pipeline speed vs the reference "decode + MediaPipe FaceMesh in one thread".

Usage::

    .venv/bin/python benchmarks/bench_faces.py [CLIP ...] [--repeat 5] [--seconds 60]

For each clip, in the same run, measures:

* ``decode``       PyAV decode + RGB conversion only;
* ``reference``    decode + MediaPipe FaceMesh (478 points, tracking mode), one thread;
* ``facepose-seq`` vafusion's full face pipeline (full-range detection, multi-face
                   tracking, mesh, aligned crops, FacePose features) without the decode thread;
* ``facepose``     the same through :meth:`vafusion.extraction.Pipeline.process`
                   (decode overlapped with face inference), one process;
* ``facepose-chunks`` the same with the video's time chunks tracked in one worker process
                   per core (:mod:`vafusion.parallel`; the workers are started and their
                   models loaded once, before the rounds, as for a batch of videos): the
                   number that counts on several cores. Their start-up is printed apart.

Without a CLIP argument the clip is *synthetic*: ``--seconds`` of the bundled sample clip
looped by benchmarks/loop_clip.py (real faces, repeated content).

Rounds are interleaved (decode, reference, facepose-seq, facepose, decode, ...) so load
changes on a shared machine hit all stages alike. Prints the best and median frames per
second and their ratios to ``reference`` (>= 1.0 means at least as fast), and the median
number of cores each stage kept busy (CPU seconds of the process tree, chunk workers
included, per wall second): a stage that already uses ``c`` cores can gain at most
``n / c`` on ``n`` cores. The targets are
``facepose / reference >= 1.0`` and, on 2 cores, ``facepose-chunks / reference >= 1.5``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


def bench_decode(path: Path) -> int:
    from vafusion.io.media import scan

    info, _ = scan(path, lambda f: None, max_side=1280)
    return info.n_frames


def bench_reference(path: Path) -> int:
    import mediapipe as mp

    from vafusion.io.media import iter_frames

    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=True
    )
    n = 0
    for frame in iter_frames(path, max_side=1280):
        mesh.process(frame.image)
        n += 1
    mesh.close()
    return n


def bench_sequential(path: Path) -> int:
    from vafusion.faces.facepose import FacePoseSet
    from vafusion.faces.tracker import FaceTracker
    from vafusion.io.media import Video

    video = Video(path, max_side=1280)
    acc = FacePoseSet().accumulator(video)
    tracker = FaceTracker()
    info, ts = video.scan(lambda f: acc.push(f, tracker.process(f)))
    acc.finish(info, ts)
    tracker.close()
    return info.n_frames


def bench_pipeline(path: Path) -> int:
    from vafusion.extraction import Pipeline

    with Pipeline("facepose") as pipe:
        result = pipe.process(path)
    assert result["facepose"].valid.any()
    return result.info.n_frames


_POOL: list = []


def bench_chunks(path: Path) -> int:
    from vafusion.extraction import Pipeline
    from vafusion.parallel.local import process_chunked

    with Pipeline("facepose") as pipe:
        result = process_chunked(pipe, path, _POOL[0])
    assert result["facepose"].valid.any()
    return result.info.n_frames


def tree_cpu_s() -> float:
    """CPU seconds used so far by this process (all threads) and its descendants (the
    chunk workers, children of the fork server)."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def measure(stages: dict, path: Path, repeat: int) -> tuple[dict, dict]:
    """Frames per second and cores used (CPU seconds of the process tree / wall seconds)
    of every stage, ``repeat`` rounds interleaved (A B C D A B ...) so that changes in
    machine load hit every stage alike."""
    fps: dict[str, list[float]] = {name: [] for name in stages}
    cores: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(repeat):
        for name, fn in stages.items():
            c0, t0 = tree_cpu_s(), time.perf_counter()
            n = fn(path)
            wall = time.perf_counter() - t0
            fps[name].append(n / wall)
            cores[name].append((tree_cpu_s() - c0) / wall)
    return fps, cores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0, help="synthetic loop length")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    from vafusion.parallel.local import ChunkPool

    tmp = tempfile.TemporaryDirectory()
    if not args.clips:
        sys.path.insert(0, str(Path(__file__).parent))
        from loop_clip import loop_clip

        looped = Path(tmp.name) / "sample_looped.mp4"
        args.clips = [loop_clip(DEFAULT_CLIP, looped, args.seconds)]
        print(f"# clip: {DEFAULT_CLIP.name} looped to {args.seconds:.0f} s (synthetic)")
    t0 = time.perf_counter()
    _POOL.append(ChunkPool(args.workers).start().wait_ready())
    print(
        f"# {args.workers} chunk workers started, models loaded: {time.perf_counter() - t0:.2f} s"
    )
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    # warm-up: imports and graph initialisation are not part of the per-frame speed
    bench_reference(args.clips[0])
    bench_pipeline(args.clips[0])
    stages = {
        "decode": bench_decode,
        "reference": bench_reference,
        "facepose-seq": bench_sequential,
        "facepose": bench_pipeline,
        "facepose-chunks": bench_chunks,
    }
    print(
        f"{'clip':26s} {'stage':13s} {'best fps':>9s} {'median fps':>11s} {'cores':>6s}"
        "  vs reference"
    )
    for clip in args.clips:
        fps, cores = measure(stages, clip, args.repeat)
        ref_best, ref_med = max(fps["reference"]), float(np.median(fps["reference"]))
        for stage, v in fps.items():
            best, med = max(v), float(np.median(v))
            print(
                f"{clip.name:26s} {stage:13s} {best:9.1f} {med:11.1f} "
                f"{float(np.median(cores[stage])):6.2f}  "
                f"{best / ref_best:.2f}x best, {med / ref_med:.2f}x median"
            )
        for stage in ("facepose", "facepose-chunks"):
            paired = np.array(fps[stage]) / np.array(fps["reference"])
            print(f"{clip.name:26s} {stage}/reference per round: {np.round(paired, 2).tolist()}")
    _POOL[0].close()
    tmp.cleanup()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
