"""Cost of adding ``blendshapes`` to ``facepose`` extraction (same run, interleaved rounds).

Usage::

    .venv/bin/python benchmarks/bench_blendshapes.py [CLIP ...] [--repeat 5]

For each clip, each round runs, in alternating order,

* ``facepose``              :meth:`vafusion.extraction.Pipeline.process` with the
                            facepose set (decode | tracking | features overlapped);
* ``facepose+blendshapes``  the same pass with the blendshapes set added (same tracker
                            pass; the network runs on the buffered meshes, 16 faces a call);

and reports the wall time of each, the per-round ratio ``(facepose+blendshapes) /
facepose`` with its median and spread (min-max), and the same ratio of the process's CPU time
(all threads; less sensitive to other load, but blind to the overlap of the pipeline's
threads). The requirement is a median wall-time ratio <= 1.10 on an idle machine.
It also times the network alone on the clip's meshes (batched, and face by face) so the
per-face cost is visible apart from the pipeline.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


def run_pass(path: Path, with_blendshapes: bool, model) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads of this process) and frames of one pass."""
    from vafusion.extraction import Pipeline, PipelineConfig
    from vafusion.faces.blendshapes_set import BlendshapesSet

    sets = ("facepose", "blendshapes") if with_blendshapes else ("facepose",)
    loaded = {"blendshapes": BlendshapesSet(model=model)} if with_blendshapes else None
    with Pipeline(PipelineConfig.of(sets), feature_sets=loaded) as pipe:  # network shared
        t0, c0 = time.perf_counter(), time.process_time()
        result = pipe.process(path)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result["facepose"].valid.any()
    return elapsed, cpu, result.info.n_frames


def network_only(path: Path, model) -> tuple[float, float, int]:
    """Seconds per face of the network alone: 16 faces per call, and one face per call."""
    from vafusion.faces.blendshapes import model_input
    from vafusion.faces.tracker import FaceTracker
    from vafusion.io.media import scan

    tracker = FaceTracker()
    meshes: list[np.ndarray] = []
    scan(path, lambda f: meshes.extend(o.landmarks for o in tracker.process(f)), max_side=1280)
    tracker.close()
    points = model_input(np.stack(meshes))
    t0 = time.perf_counter()
    for i in range(0, len(points), 16):  # the extractor's default batch
        model.scores(points[i : i + 16])
    batched = (time.perf_counter() - t0) / len(points)
    t0 = time.perf_counter()
    for p in points:
        model.scores(p[None])
    single = (time.perf_counter() - t0) / len(points)
    return batched, single, len(points)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path, default=[DEFAULT_CLIP])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from vafusion.faces.blendshapes import BlendshapeModel

    load = os.getloadavg()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    model = BlendshapeModel()  # loaded once, as a worker does
    run_pass(args.clips[0], True, model)  # warm-up: imports, graph initialisation
    for clip in args.clips:
        times: dict[bool, list[float]] = {False: [], True: []}
        cpus: dict[bool, list[float]] = {False: [], True: []}
        n = 0
        for r in range(args.repeat):
            order = (False, True) if r % 2 == 0 else (True, False)
            for with_bs in order:
                dt, cpu, n = run_pass(clip, with_bs, model)
                times[with_bs].append(dt)
                cpus[with_bs].append(cpu)
        base, both = np.array(times[False]), np.array(times[True])
        ratio = both / base
        cpu_ratio = np.array(cpus[True]) / np.array(cpus[False])
        print(
            f"{clip.name}: {n} frames; facepose {np.median(base):.2f} s "
            f"({n / np.median(base):.1f} fps), facepose+blendshapes {np.median(both):.2f} s "
            f"({n / np.median(both):.1f} fps)"
        )
        print(
            f"{clip.name}: (facepose+blendshapes)/facepose per round {np.round(ratio, 3).tolist()}"
            f"; median {np.median(ratio):.3f}, spread {ratio.min():.3f}-{ratio.max():.3f}"
        )
        print(
            f"{clip.name}: CPU time ratio per round {np.round(cpu_ratio, 3).tolist()}; "
            f"median {np.median(cpu_ratio):.3f}"
        )
        batched, single, faces = network_only(clip, model)
        print(
            f"{clip.name}: network alone on {faces} faces: {1e3 * batched:.3f} ms/face in "
            f"batches of 16, {1e3 * single:.3f} ms/face one by one"
        )
    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
