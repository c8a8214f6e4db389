"""What the iris refinement of MediaPipe's face mesh costs, alone and in the whole tracker.

Run::

    .venv/bin/python benchmarks/bench_mesh_irises.py [--clip CLIP] [--rounds 3]

The clip's frames (default: the bundled sample clip, decoded once at the default model's
960-pixel cap) go, in turn within each round, through:

1. MediaPipe's ``FaceMesh`` alone (one face, tracking mode) with ``refine_landmarks`` on
   (the refined mesh: eyes and lips refined, 10 iris points) and off (the plain mesh);
2. vafusion's ``FaceTracker`` (detection, one mesh per track, alignment) with
   ``TrackerConfig(irises=True)`` (the default) and ``irises=False`` (the default model's).

Printed: CPU milliseconds per frame (this process, one thread each; MediaPipe may use more),
median and range over the rounds, and the plain / refined ratio per round.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


def mesh_cpu_ms(images: list[np.ndarray], refine: bool) -> float:
    import mediapipe as mp

    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=refine
    )
    mesh.process(images[0])  # graph start-up outside the timing
    c0 = time.process_time()
    for image in images:
        mesh.process(image)
    cpu = time.process_time() - c0
    mesh.close()
    return 1e3 * cpu / len(images)


def tracker_cpu_ms(frames: list, irises: bool) -> float:
    from vafusion.faces.tracker import FaceTracker, TrackerConfig

    tracker = FaceTracker(TrackerConfig(irises=irises))
    tracker.warm_up()
    c0 = time.process_time()
    for frame in frames:
        for face in tracker.process(frame):
            _ = face.aligned
    cpu = time.process_time() - c0
    tracker.close()
    return 1e3 * cpu / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from vafusion.io.media import iter_frames

    frames = list(iter_frames(args.clip, max_side=960))
    images = [f.image for f in frames]
    print(f"clip {args.clip.name}: {len(frames)} frames; load averages: {os.getloadavg()}")
    runs: dict[str, list[float]] = {k: [] for k in ("mesh+", "mesh-", "tracker+", "tracker-")}
    for r in range(args.rounds):
        runs["mesh+"].append(mesh_cpu_ms(images, True))
        runs["mesh-"].append(mesh_cpu_ms(images, False))
        runs["tracker+"].append(tracker_cpu_ms(frames, True))
        runs["tracker-"].append(tracker_cpu_ms(frames, False))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} ms" for k, v in runs.items()))
    for what in ("mesh", "tracker"):
        on, off = np.asarray(runs[f"{what}+"]), np.asarray(runs[f"{what}-"])
        ratio = off / on
        print(
            f"{what:8s}: refined {np.median(on):.2f} ms ({on.min():.2f}-{on.max():.2f}), plain "
            f"{np.median(off):.2f} ms ({off.min():.2f}-{off.max():.2f}) CPU per frame; "
            f"plain / refined {np.median(ratio):.3f} ({ratio.min():.3f}-{ratio.max():.3f})"
        )
    print(f"load averages after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
