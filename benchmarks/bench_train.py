"""Training throughput of the fusion model at Aff-Wild2 scale on SYNTHETIC features.

Builds synthetic per-frame features of the real dimensions (audio 168, expression 135,
facepose 653: the built-in extractors, by default) for the Aff-Wild2 VA training videos
listed in ``tests/data/affwild2/va_splits_abaw3.csv`` (1.50 M frames, ~150 k windows),
optionally subsampled with ``--scale``, then measures with the real training loop
(:func:`vafusion.train.fit`, one epoch, no validation):

- windows/s and epoch time (and the full-scale epoch time extrapolated from it),
- the data-loading share of each step (batch gather + masks, goal < 10 %),
- model-only throughput (forward + backward + RMSprop step on a pre-gathered batch), the
  reference for what the loop could reach with free data loading,
- the process's memory (RSS: anonymous = the process's own, file = page cache of memmaps,
  peak) and the system's page cache after building the windows and after the epoch, and
  the peak number of open files (sampled every 20 ms).

``--recipe improved`` measures the improved recipe (fusion-tcn over 128-frame windows with
per-video normalisation); compare ``frames_per_s`` (dataset frames per second of training)
across recipes, since their windows differ in length and stride. ``--max-steps N`` stops
after N steps. At full scale from memory maps, under the common
descriptor limit::

    (ulimit -n 1024; .venv/bin/python benchmarks/bench_train.py --scale 1.0 --data mmap \
        --max-steps 100)

``--data ram`` packs the features in RAM (the synthetic videos are generated in memory);
``--data mmap`` writes them into a temporary feature store (audio per frame, expression and
facepose as long-form face tables with one track) and trains from the store's memory maps
(:func:`vafusion.data.sources.store_video`: views read through the bounded map cache, what
``vafusion train --data-mmap`` does).

Example::

    .venv/bin/python benchmarks/bench_train.py --scale 0.01 --threads 1 --data mmap
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
SPLITS = REPO / "tests" / "data" / "affwild2" / "va_splits_abaw3.csv"


def train_frame_counts(scale: float, seed: int = 0) -> list[int]:
    """Frame counts of the Aff-Wild2 VA training videos (a random ``scale`` share)."""
    with open(SPLITS, newline="") as fh:
        counts = [int(r["frames_at_least"]) for r in csv.DictReader(fh) if r["split"] == "train"]
    if scale >= 1:
        return counts
    rng = np.random.default_rng(seed)
    k = max(1, round(len(counts) * scale))
    return [counts[i] for i in sorted(rng.choice(len(counts), k, replace=False))]


def synthetic_labels(n: int, i: int) -> np.ndarray:
    """Smooth (valence, arousal) curves of video ``i``, shape (n, 2)."""
    t = np.linspace(0, n / 30.0, n)
    return np.stack([np.sin(t / 3 + i), np.cos(t / 5 + i)], 1).astype(np.float32) * 0.8


def synthetic_iter(counts: list[int], dims: dict[str, int], seed: int = 0):
    """Cheap synthetic videos one at a time (random features, 10 % missing faces)."""
    from vafusion.data import VideoData

    rng = np.random.default_rng(seed)
    for i, n in enumerate(counts):
        feats, valid = {}, {}
        for m, d in dims.items():
            feats[m] = rng.standard_normal((n, d), dtype=np.float32)
            valid[m] = rng.random(n) > (0.1 if m != "audio" else 0.0)
        yield VideoData(f"v{i}", n, feats, valid, synthetic_labels(n, i))


def synthetic(counts: list[int], dims: dict[str, int], seed: int = 0):
    """All of :func:`synthetic_iter` in memory."""
    return list(synthetic_iter(counts, dims, seed))


def memory_mb() -> dict[str, float]:
    """Memory now (MB): ``anon`` (the process's own RSS), ``file`` (its mapped page cache),
    ``peak`` (peak RSS), ``cached`` (the system's page cache, /proc/meminfo ``Cached``)."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM"):
                out[key] = int(rest.split()[0]) / 1024
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key == "Cached":
                out[key] = int(rest.split()[0]) / 1024
    return {"anon": out.get("RssAnon", 0.0), "file": out.get("RssFile", 0.0),
            "peak": out.get("VmHWM", 0.0), "cached": out.get("Cached", 0.0)}  # fmt: skip


class FdSampler:
    """Peak number of open file descriptors of this process, sampled every ``period`` s."""

    def __init__(self, period: float = 0.02) -> None:
        import threading

        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        return len(os.listdir("/proc/self/fd"))

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


def store_videos(counts: list[int], dims: dict[str, int], root: Path, seed: int = 0):
    """Like :func:`synthetic` but written to a feature store and read back as training does.

    Face sets are stored in long form (``face_id`` 0, or -1 on the 10 % frames without a
    face), exactly like the face extractors write them; one video at a time is in memory.
    The videos are read back with :func:`vafusion.data.sources.store_video` (what
    ``vafusion train`` does): views over the store's arrays read through the bounded map
    cache, no file held open per video.
    """
    from dataclasses import replace

    from vafusion.data.sources import store_video
    from vafusion.features.base import FeatureTable
    from vafusion.store import FeatureStore

    store = FeatureStore(root)
    for v in synthetic_iter(counts, dims, seed):
        n = v.n_frames
        for m, x in v.features.items():
            face = m != "audio"
            store.put(
                v.name,
                FeatureTable(
                    name=m, frame=np.arange(n), timestamp=np.arange(n) / 30.0, values=x,
                    columns=[f"{m}_{j}" for j in range(x.shape[1])], valid=v.valid[m],
                    face_id=np.where(v.valid[m], 0, -1) if face else None,
                ),
                extractor_hash="bench0",
                video_info={"n_frames": n},
            )  # fmt: skip
    out = []
    for i, n in enumerate(counts):
        v, _ = store_video(store, f"v{i}", {m: m for m in dims})
        out.append(replace(v, labels=synthetic_labels(n, i)))
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


def _nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.01, help="share of training videos")
    ap.add_argument(
        "--recipe",
        default="paper",
        choices=("paper", "improved"),
        help="training recipe (window, model, loss, per-video norm...)",
    )
    ap.add_argument("--model", default=None, help="default: the recipe's")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dims", default="audio=168,expression=135,facepose=653")
    ap.add_argument("--model-steps", type=int, default=30)
    ap.add_argument("--data", choices=("ram", "mmap"), default="ram", help="window storage")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: 1 epoch)")
    ap.add_argument(
        "--store",
        type=Path,
        default=None,
        help="mmap: feature store folder (default: a temporary one, removed at the end)",
    )
    ap.add_argument("--out", type=Path, default=None, help="append a markdown row here")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from vafusion.data import FeatureSpec, WindowData, fit_normalizer
    from vafusion.data.memory_budget import feature_bytes
    from vafusion.models import build_model
    from vafusion.train import fit
    from vafusion.train.recipes import recipe_config

    torch.set_num_threads(args.threads)
    dims = {k: int(v) for k, v in (kv.split("=") for kv in args.dims.split(","))}
    counts = train_frame_counts(args.scale)
    tmpdir = tempfile.TemporaryDirectory()
    mem0 = memory_mb()
    fds = FdSampler()
    fds_start = fds.peak
    t0 = time.perf_counter()
    if args.data == "mmap":
        videos = store_videos(counts, dims, args.store or Path(tmpdir.name) / "store")
    else:
        videos = synthetic(counts, dims)
    t_gen = time.perf_counter() - t0
    spec = FeatureSpec(dims=dims)
    in_memory = args.data == "ram"
    base = recipe_config(args.recipe)
    cfg = replace(
        base, model=replace(base.model, name=args.model or base.model.name), epochs=1,
        batch_size=args.batch_size, num_threads=args.threads, patience=0, progress=False,
        data_memory=args.data, max_steps=args.max_steps, tune_smoothing=False, tune_lag=False,
    )  # fmt: skip
    dc = cfg.data
    t0 = time.perf_counter()
    norm = fit_normalizer(videos, spec.modalities)
    data = WindowData(
        videos, spec, norm, dc.window, dc.stride, in_memory=in_memory, per_video=dc.per_video_norm
    )
    t_pack = time.perf_counter() - t0
    mem_built = memory_mb()
    n_frames, n_win = sum(counts), len(data)

    fds_built = fds.now()
    with tempfile.TemporaryDirectory() as tmp:
        r = fit(cfg, videos, [], spec, tmp)
    mem_epoch = memory_mb()
    peak_fds = fds.stop()
    h = r.history[0]
    epoch_s, load_share = h["epoch_seconds"], h["load_share"]
    steps = -(-n_win // args.batch_size)
    trained = n_win if not args.max_steps else min(n_win, args.max_steps * args.batch_size)
    wps = trained / epoch_s

    torch.manual_seed(0)
    model = build_model(cfg.model, spec)
    batch = data.batch(np.arange(min(args.batch_size, n_win)))
    t0 = time.perf_counter()
    for _ in range(50):
        data.batch(np.random.default_rng(0).integers(0, n_win, args.batch_size))
    gather_s = (time.perf_counter() - t0) / 50
    step_s = model_only(model, batch, args.model_steps)
    mo_wps = args.batch_size / step_s

    fps_train = wps * dc.stride  # dataset frames covered per second of training
    res = {
        "recipe": args.recipe, "model": cfg.model.name, "window": dc.window, "stride": dc.stride,
        "data": args.data, "scale": args.scale, "videos": len(counts),
        "frames": n_frames,
        "windows": n_win, "batch_size": args.batch_size, "threads": args.threads,
        "dims": dims, "gen_s": round(t_gen, 2), "pack_s": round(t_pack, 2),
        "epoch_s": round(epoch_s, 2), "windows_per_s": round(wps, 1),
        "load_share": round(load_share, 4), "gather_ms_per_batch": round(gather_s * 1e3, 3),
        "model_only_windows_per_s": round(mo_wps, 1),
        "model_only_ms_per_step": round(step_s * 1e3, 2),
        "frames_per_s": round(fps_train, 1),
        "full_scale_epoch_min_est": round(1.50e6 / fps_train / 60, 1),
        "rss_anon_mb": {"start": round(mem0["anon"]), "built": round(mem_built["anon"]),
                        "after_epoch": round(mem_epoch["anon"])},
        "rss_file_mb_after_epoch": round(mem_epoch["file"]),
        "rss_peak_mb": round(mem_epoch["peak"]),
        "page_cache_mb": {"start": round(mem0["cached"]),
                          "after_epoch": round(mem_epoch["cached"])},
        "steps": min(steps, args.max_steps) if args.max_steps else steps,
        "open_files": {"start": fds_start, "built": fds_built,
                       "peak": peak_fds, "limit": _nofile()},
        "feature_mb": round(feature_bytes(videos, spec, dc.window, dc.stride) / 2**20),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "torch": torch.__version__,
    }  # fmt: skip
    print(json.dumps(res, indent=2))
    tmpdir.cleanup()
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(
                f"| {cfg.model.name} | {args.data} | {args.scale} | {n_frames} | {n_win} | "
                f"{args.batch_size} | {args.threads} | {epoch_s:.1f} | {wps:.0f} | "
                f"{100 * load_share:.1f} % | {gather_s * 1e3:.2f} | {mo_wps:.0f} | "
                f"{res['full_scale_epoch_min_est']} | {res['feature_mb']} | "
                f"{mem_epoch['anon'] - mem0['anon']:.0f} |\n"
            )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
