"""Audio feature extraction speed vs raw decode + resample, measured in the same run.

Usage::

    .venv/bin/python benchmarks/bench_audio.py [VIDEO ...] [--repeat 3]

Prints seconds of media processed per second of wall time (x real time) for
(a) the reference: decoding the video's frame timestamps plus decoding and resampling its
audio to 16 kHz mono, and (b) the full 168-d paper features (which include (a)), and the
ratio b/a. librosa's first call compiles with numba; a warm-up run is excluded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from vafusion.extraction import Pipeline
from vafusion.io.audio import load_audio
from vafusion.io.media import scan

DEFAULT = Path(__file__).resolve().parents[1] / "src/vafusion/assets/WolfgangLanger_Pexels.mp4"


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pipe = Pipeline("audio")
    pipe.process(args.videos[0])  # warm-up: numba compilation, imports
    print(f"{'video':32s} {'media s':>8s} {'decode xRT':>11s} {'features xRT':>13s} {'ratio':>6s}")
    ratios = []
    for video in args.videos:
        info, _ = scan(video)

        def reference(video=video, info=info) -> None:
            scan(video)
            load_audio(video, 16_000, duration_s=info.duration_s)

        t_ref = _best(reference, args.repeat)
        t_feat = _best(lambda video=video: pipe.process(video), args.repeat)
        ratio = t_ref / t_feat
        ratios.append(ratio)
        print(
            f"{video.name:32s} {info.duration_s:8.1f} {info.duration_s / t_ref:10.0f}x "
            f"{info.duration_s / t_feat:12.0f}x {ratio:6.2f}"
        )
    gmean = float(np.exp(np.mean(np.log(ratios))))
    print(f"features speed / decode+resample speed (geometric mean): {gmean:.2f}")


if __name__ == "__main__":
    main()
