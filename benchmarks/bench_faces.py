"""Face pipeline speed vs the reference "decode + MediaPipe FaceMesh in one thread".

Usage::

    .venv/bin/python benchmarks/bench_faces.py [CLIP ...] [--repeat 3]

For each clip, in the same run, measures (best of ``--repeat`` passes):

* ``decode``       PyAV decode + RGB conversion only;
* ``reference``    decode + MediaPipe FaceMesh (478 points, tracking mode), one thread;
* ``facepose-seq`` vafusion's full face pipeline (full-range detection, multi-face
                   tracking, mesh, aligned crops, FacePose features) without the decode thread;
* ``facepose``     the same through :func:`vafusion.features.pipeline.extract_features`
                   (decode overlapped with face inference): the number that counts.

and prints frames per second and each figure's ratio to ``reference`` (>= 1.0 means at
least as fast). The requirement is ``facepose / reference >= 1.0``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

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
    from vafusion.faces.facepose import FacePoseExtractor
    from vafusion.faces.tracker import FaceTracker
    from vafusion.io.media import scan

    ext = FacePoseExtractor()
    tracker = FaceTracker(ext.tracker_config)
    tracker.reset()
    ext.begin(path, 1280)
    info, ts = scan(path, lambda f: ext.push(f, tracker.process(f)), max_side=1280)
    ext.end(info, ts)
    tracker.close()
    return info.n_frames


def bench_pipeline(path: Path) -> int:
    from vafusion.faces.facepose import FacePoseExtractor
    from vafusion.features.pipeline import extract_features

    info, tables = extract_features(path, [FacePoseExtractor()], max_side=1280)
    assert tables["facepose"].valid.any()
    return info.n_frames


def best_fps(fn, path: Path, repeat: int) -> float:
    best = float("inf")
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn(path)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path, default=[DEFAULT_CLIP])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    # warm-up: import and graph initialisation are not part of the per-frame speed
    bench_reference(args.clips[0])
    bench_pipeline(args.clips[0])
    print(f"{'clip':32s} {'stage':14s} {'fps':>8s} {'vs reference':>13s}")
    for clip in args.clips:
        fps = {
            "decode": best_fps(bench_decode, clip, args.repeat),
            "reference": best_fps(bench_reference, clip, args.repeat),
            "facepose-seq": best_fps(bench_sequential, clip, args.repeat),
            "facepose": best_fps(bench_pipeline, clip, args.repeat),
        }
        for stage, v in fps.items():
            print(f"{clip.name:32s} {stage:14s} {v:8.1f} {v / fps['reference']:12.2f}x")


if __name__ == "__main__":
    main()
