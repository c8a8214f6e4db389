"""Expression embedding speed, alone and on top of the face pipeline.

Usage::

    .venv/bin/python benchmarks/bench_expression.py [CLIP] [--repeat 2] [--threads 0]

Measures, in the same run:

1. **Embedding alone** (ms per face, pre-processing included) on the clip's real aligned
   face crops: the built-in mini-Xception batched by 32 vs one face at a time, with the
   ONNX Runtime engine (the default) and eager PyTorch.
2. **Pipeline overhead**: :meth:`vafusion.extraction.Pipeline.process` on the clip
   with the face pipeline alone (tracking + alignment, and tracking + FacePose features)
   and with the expression extractor added (best of ``--repeat`` passes each), plus the
   expression extractor's own time measured inside the combined pass. The requirement:
   the embedding adds at most 25 % to the face pipeline's time per frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from vafusion.features.base import Accumulator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


class _Null(Accumulator):
    """An accumulator doing nothing but keep a few crops (forces the tracker to run)."""

    name = "null"
    needs_faces = True

    def __init__(self):
        self.crops = []

    def push(self, frame, faces):
        for f in faces:
            if len(self.crops) < 256:
                self.crops.append(f.aligned)

    def finish(self, info, timestamps):
        return None


class _Timed(Accumulator):
    """Wraps an accumulator and accumulates the time spent in it."""

    needs_faces = True

    def __init__(self, inner, name):
        self.inner, self.name, self.seconds = inner, name, 0.0

    def push(self, frame, faces):
        t = time.perf_counter()
        self.inner.push(frame, faces)
        self.seconds += time.perf_counter() - t

    def finish(self, info, timestamps):
        t = time.perf_counter()
        out = self.inner.finish(info, timestamps)
        self.seconds += time.perf_counter() - t
        return out


def ms_per_face(backbone, crops: np.ndarray, batch: int, min_s: float = 2.0) -> float:
    backbone(crops[:batch])  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_s:
        for i in range(0, len(crops), batch):
            backbone(crops[i : i + batch])
        n += len(crops)
    return (time.perf_counter() - t0) / n * 1000


def run_pass(path: Path, sets: tuple[str, ...], extra: list) -> tuple[float, int]:
    from vafusion.extraction import Pipeline, PipelineConfig

    with Pipeline(PipelineConfig(features=sets)) as pipe:
        pipe.tracker.warm_up()
        t = time.perf_counter()
        result = pipe.process(path, extra=extra)
        dt = time.perf_counter() - t
    return dt, result.info.n_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default=str(DEFAULT_CLIP))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0: auto)")
    args = ap.parse_args()
    path = Path(args.clip)

    from vafusion.expression.backbone import default_num_threads, load_backbone
    from vafusion.expression.extractor import ExpressionConfig, ExpressionSet
    from vafusion.io.media import Video

    threads = args.threads or default_num_threads()
    print(
        f"# {path.name}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, inference threads {threads}"
    )

    null = _Null()
    t_null, n_frames = run_pass(path, (), [null])
    crops = np.stack(null.crops)
    print(f"\n## embedding alone ({len(crops)} real aligned crops, pre-processing included)")
    for engine in ("onnxruntime", "torch"):
        bb = load_backbone("minixception", {"engine": engine}, num_threads=threads)
        one = ms_per_face(bb, crops, 1)
        b32 = ms_per_face(bb, crops, 32)
        print(
            f"minixception/{engine:<11}  one-at-a-time {one:6.2f} ms/face   "
            f"batched x32 {b32:6.2f} ms/face   speed-up {one / b32:4.1f}x"
        )

    print(f"\n## pipeline ({n_frames} frames, best of {args.repeat} passes)")
    expression = ExpressionSet(ExpressionConfig(num_threads=threads))

    def timed_expression():
        return _Timed(expression.accumulator(Video(path)), "timed")

    rows = {}
    for label, sets, make in (
        ("tracking", (), lambda: [_Null()]),
        ("tracking+expression", (), lambda: [_Null(), timed_expression()]),
        ("facepose", ("facepose",), lambda: []),
        ("facepose+expression", ("facepose",), lambda: [timed_expression()]),
    ):
        best, inner = None, None
        for _ in range(args.repeat):
            extra = make()
            dt, _ = run_pass(path, sets, extra)
            timed = [c for c in extra if isinstance(c, _Timed)]
            if best is None or dt < best:
                best, inner = dt, (timed[0].seconds if timed else None)
        rows[label] = (best, inner)
        extra = f"   (expression inside: {inner / n_frames * 1000:5.2f} ms/frame)" if inner else ""
        print(f"{label:<22} {best:7.2f} s  {best / n_frames * 1000:6.2f} ms/frame{extra}")
    for base in ("tracking", "facepose"):
        t_base = rows[base][0]
        t_both, inner = rows[f"{base}+expression"]
        print(
            f"{base}: +expression wall-clock ratio {t_both / t_base:5.3f} "
            f"(+{(t_both / t_base - 1) * 100:4.1f} %); expression's own time / rest of "
            f"the pass {inner / (t_both - inner) * 100:4.1f} %"
        )


if __name__ == "__main__":
    main()
