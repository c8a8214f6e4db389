"""Effect of ``predict --stride k`` on the curves: mean absolute difference against stride 1.

Usage::

    .venv/bin/python benchmarks/stride_effect.py [CLIP ...] [--strides 2 3 5]

For every clip (default: the real test clips in tests/data/clips that have a face), the
default model predicts every frame (stride 1) and every k-th frame (the others
interpolated); printed per clip and pooled over all frames: the mean absolute difference
of valence and of arousal on frames valid in both runs, its 95th percentile, and the
share of frames valid in the stride-1 run that are missing with stride k. Valence and
arousal are in [-1, 1]. One process, no chunks: the differences are the stride's alone.
The result does not depend on the machine's speed or load.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests" / "data" / "clips"


def curves(model, clip: Path, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) valence/arousal of the main face and its (T,) validity."""
    pred = model.predict_video(clip, face="main", stride=stride)
    face = pred.faces[0]
    return face.va.astype(np.float64), face.valid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--strides", type=int, nargs="+", default=[2, 3, 5])
    args = ap.parse_args()
    from vafusion.predict.default_model import DefaultModel

    model = DefaultModel()
    clips = args.clips or sorted(p for p in CLIPS.iterdir() if p.name != "no_face.mp4")
    pooled: dict[int, list[np.ndarray]] = {k: [] for k in args.strides}
    lost: dict[int, list[int]] = {k: [0, 0] for k in args.strides}
    print("| clip | frames | stride | MAD valence | MAD arousal | p95 abs diff | valid lost |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for clip in clips:
        ref, ok = curves(model, clip, 1)
        for k in args.strides:
            va, valid = curves(model, clip, k)
            both = ok & valid
            d = np.abs(va[both] - ref[both])
            pooled[k].append(d)
            lost[k][0] += int((ok & ~valid).sum())
            lost[k][1] += int(ok.sum())
            if not both.any():
                print(f"| {clip.name} | {len(ok)} | {k} | - | - | - | - |")
                continue
            print(
                f"| {clip.name} | {len(ok)} | {k} | {d[:, 0].mean():.4f} | {d[:, 1].mean():.4f} "
                f"| {np.percentile(d, 95):.4f} | {(ok & ~valid).sum() / max(ok.sum(), 1):.1%} |"
            )
    for k in args.strides:
        d = np.concatenate(pooled[k])
        print(
            f"| **all ({len(d)} frames)** | | {k} | **{d[:, 0].mean():.4f}** | "
            f"**{d[:, 1].mean():.4f}** | {np.percentile(d, 95):.4f} | "
            f"{lost[k][0] / max(lost[k][1], 1):.1%} |"
        )
    model.close()


if __name__ == "__main__":
    main()
