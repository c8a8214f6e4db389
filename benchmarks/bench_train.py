"""Training throughput of the fusion model at Aff-Wild2 scale on SYNTHETIC features.

Builds synthetic per-frame features of the real dimensions (audio 168, expression 1024,
facepose 714 by default) for the Aff-Wild2 VA training videos listed in
``../shared/data/affwild2/va_splits_abaw3.csv`` (1.50 M frames, ~150 k windows), optionally
subsampled with ``--scale``, then measures with the real training loop
(:func:`vafusion.train.fit`, one epoch, no validation):

- windows/s and epoch time (and the full-scale epoch time extrapolated from it),
- the data-loading share of each step (batch gather + masks, goal < 10 %),
- model-only throughput (forward + backward + RMSprop step on a pre-gathered batch), the
  reference for what the loop could reach with free data loading.

Example::

    .venv/bin/python benchmarks/bench_train.py --scale 0.01 --threads 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO.parent / "shared" / "data" / "affwild2" / "va_splits_abaw3.csv"


def train_frame_counts(scale: float, seed: int = 0) -> list[int]:
    """Frame counts of the Aff-Wild2 VA training videos (a random ``scale`` share)."""
    with open(SPLITS, newline="") as fh:
        counts = [int(r["frames_at_least"]) for r in csv.DictReader(fh) if r["split"] == "train"]
    if scale >= 1:
        return counts
    rng = np.random.default_rng(seed)
    k = max(1, round(len(counts) * scale))
    return [counts[i] for i in sorted(rng.choice(len(counts), k, replace=False))]


def synthetic(counts: list[int], dims: dict[str, int], seed: int = 0):
    """Cheap synthetic videos (random features, 10 % missing faces, smooth labels)."""
    from vafusion.data import VideoData

    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(counts):
        t = np.linspace(0, n / 30.0, n)
        labels = np.stack([np.sin(t / 3 + i), np.cos(t / 5 + i)], 1).astype(np.float32) * 0.8
        feats, valid = {}, {}
        for m, d in dims.items():
            feats[m] = rng.standard_normal((n, d), dtype=np.float32)
            valid[m] = rng.random(n) > (0.1 if m != "audio" else 0.0)
        out.append(VideoData(f"v{i}", n, feats, valid, labels))
    return out


def model_only(model, batch, steps: int) -> float:
    """Seconds per step of forward+backward+RMSprop on a fixed, pre-gathered batch."""
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    model.train()
    for i in range(steps + 2):
        if i == 2:
            t0 = time.perf_counter()
        pred = model(batch)
        w = batch["y_mask"]
        loss = ((pred - batch["y"]) ** 2 * w).sum() / w.sum().clamp_min(1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.01, help="share of training videos")
    ap.add_argument("--model", default="fusion-gru")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dims", default="audio=168,expression=1024,facepose=714")
    ap.add_argument("--model-steps", type=int, default=30)
    ap.add_argument("--out", type=Path, default=None, help="append a markdown row here")
    args = ap.parse_args(argv)

    from vafusion.data import FeatureSpec, WindowData, fit_normalizer
    from vafusion.models import ModelConfig, build_model
    from vafusion.train import TrainConfig, fit

    torch.set_num_threads(args.threads)
    dims = {k: int(v) for k, v in (kv.split("=") for kv in args.dims.split(","))}
    counts = train_frame_counts(args.scale)
    t0 = time.perf_counter()
    videos = synthetic(counts, dims)
    t_gen = time.perf_counter() - t0
    spec = FeatureSpec(dims=dims)
    t0 = time.perf_counter()
    norm = fit_normalizer(videos, spec.modalities)
    data = WindowData(videos, spec, norm)
    t_pack = time.perf_counter() - t0
    n_frames, n_win = sum(counts), len(data)

    cfg = TrainConfig(
        model=ModelConfig(name=args.model), epochs=1, batch_size=args.batch_size,
        num_threads=args.threads, patience=0, progress=False,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        r = fit(cfg, videos, [], spec, tmp)
    h = r.history[0]
    epoch_s, load_share = h["epoch_seconds"], h["load_share"]
    wps = n_win / epoch_s

    torch.manual_seed(0)
    model = build_model(cfg.model, spec)
    batch = data.batch(np.arange(min(args.batch_size, n_win)))
    t0 = time.perf_counter()
    for _ in range(50):
        data.batch(np.random.default_rng(0).integers(0, n_win, args.batch_size))
    gather_s = (time.perf_counter() - t0) / 50
    step_s = model_only(model, batch, args.model_steps)
    mo_wps = args.batch_size / step_s

    full_windows = 150_000
    res = {
        "model": args.model, "scale": args.scale, "videos": len(counts), "frames": n_frames,
        "windows": n_win, "batch_size": args.batch_size, "threads": args.threads,
        "dims": dims, "gen_s": round(t_gen, 2), "pack_s": round(t_pack, 2),
        "epoch_s": round(epoch_s, 2), "windows_per_s": round(wps, 1),
        "load_share": round(load_share, 4), "gather_ms_per_batch": round(gather_s * 1e3, 3),
        "model_only_windows_per_s": round(mo_wps, 1),
        "model_only_ms_per_step": round(step_s * 1e3, 2),
        "full_scale_epoch_min_est": round(full_windows / wps / 60, 1),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "torch": torch.__version__,
    }  # fmt: skip
    print(json.dumps(res, indent=2))
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(
                f"| {args.model} | {args.scale} | {n_frames} | {n_win} | {args.batch_size} | "
                f"{args.threads} | {epoch_s:.1f} | {wps:.0f} | {100 * load_share:.1f} % | "
                f"{gather_s * 1e3:.2f} | {mo_wps:.0f} | {res['full_scale_epoch_min_est']} |\n"
            )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
