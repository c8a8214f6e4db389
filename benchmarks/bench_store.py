"""Feature-store benchmark at Aff-Wild2 scale, plus extraction speed-up 1 -> 2 workers.

Usage::

    .venv/bin/python benchmarks/bench_store.py                 # full scale (412 videos)
    .venv/bin/python benchmarks/bench_store.py --scale 0.1     # every 10th video
    .venv/bin/python benchmarks/bench_store.py --skip-extract  # store part only

Synthetic Aff-Wild2: every name and frame count of
``tests/data/affwild2/va_splits_abaw3.csv`` (``frames_at_least`` + a seeded 0-99
extra, as the true count is up to ~100 frames more), random float32 features of the real
dimensions (``--dims``; defaults: the built-in extractors, audio 168, expression 135,
facepose 653), 10 % invalid (NaN) rows in the face sets. ``_left``/``_right`` rows share
one video, as in the store.

Measured:

1. write throughput (MB/s of array bytes, including fsync + rename + manifest update);
2. random 15-frame window reads of all feature sets (windows/s), (a) through the public
   ``FeatureStore.read_rows`` (resolves the entry and maps the file on every call) and
   (b) from memmaps opened once per video (what a training ``Dataset`` does), each window
   copied out of the map as ``read_rows`` does (like for like: only the per-call lookup
   differs);
3. on-disk size; the compression a chunked/compressed format would give, measured on
   real audio features (zlib), and the cost of reading one window from a compressed
   ``.npz`` (whole-array decompression) for comparison;
4. ``vafusion.extraction.extract`` wall time on real clips (audio features) with 1 worker
   (in-process) and 2 workers (Dask LocalCluster, cluster start included and reported separately).

The page cache is warm for reads (the data were just written): on a cold cache or a
network file system the read numbers are an upper bound.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO / "tests" / "data" / "affwild2" / "va_splits_abaw3.csv"
CLIPS = REPO / "tests" / "data" / "clips"


def _videos(scale: float, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    rows = list(csv.DictReader(SPLITS.open()))
    step = max(1, round(1 / scale)) if scale < 1 else 1
    rows = rows[::step]
    out: dict[str, int] = {}
    for r in rows:
        name = r["video"]
        for suffix in ("_left", "_right"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        n = int(r["frames_at_least"]) + int(rng.integers(0, 100))
        out[name] = max(out.get(name, 0), n)
    return out


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def bench_store(args) -> dict:
    from vafusion.features.base import FeatureTable
    from vafusion.store import FeatureStore

    dims = dict(kv.split("=") for kv in args.dims.split(","))
    dims = {k: int(v) for k, v in dims.items()}
    videos = _videos(args.scale, args.seed)
    root = Path(args.out) / "store"
    if root.exists():
        shutil.rmtree(root)
    store = FeatureStore(root)
    rng = np.random.default_rng(args.seed)
    n_bytes = 0
    t_write = 0.0
    n_frames = sum(videos.values())
    print(f"{len(videos)} videos, {n_frames} frames, dims {dims}", flush=True)
    for i, (name, n) in enumerate(videos.items()):
        for fs, d in dims.items():
            values = rng.standard_normal((n, d), dtype=np.float32)
            valid = np.ones(n, bool) if fs == "audio" else rng.random(n) > 0.1
            values[~valid] = np.nan
            table = FeatureTable(
                name=fs,
                frame=np.arange(n),
                timestamp=np.arange(n) / 30.0,
                values=values,
                columns=[f"{fs}_{j}" for j in range(d)],
                valid=valid,
            )
            t0 = time.perf_counter()
            store.put(name, table, extractor_hash="bench", video_info={"n_frames": n})
            t_write += time.perf_counter() - t0
            n_bytes += values.nbytes + n * (8 + 8 + 1)
        if (i + 1) % 50 == 0:
            print(f"  wrote {i + 1}/{len(videos)} videos", flush=True)
    size = _du(root)

    # random 15-frame windows over all feature sets
    names = list(videos)
    p = np.array([videos[v] for v in names], dtype=np.float64)
    p /= p.sum()
    picks = rng.choice(len(names), size=args.windows, p=p)
    starts = [int(rng.integers(0, videos[names[k]] - 15)) for k in picks]
    checksum = 0.0
    t0 = time.perf_counter()
    n_api = min(args.windows, 5000)
    for k, s in zip(picks[:n_api], starts[:n_api], strict=True):
        for fs in dims:
            checksum += float(store.read_rows(names[k], fs, s, s + 15)[0, 0])
    api_rate = n_api / (time.perf_counter() - t0)
    maps = {}
    t0 = time.perf_counter()
    for v in names:
        for fs in dims:
            maps[v, fs] = store.get_array(v, fs)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k, s in zip(picks, starts, strict=True):
        for fs in dims:
            w = np.array(maps[names[k], fs][s : s + 15])  # a copy, as read_rows returns
            checksum += float(w[0, 0])
    mm_rate = args.windows / (time.perf_counter() - t0)

    # what a compressed, non-chunked format would cost per window (npz, one video)
    v0 = names[0]
    buf = io.BytesIO()
    np.savez_compressed(buf, **{fs: np.asarray(maps[v0, fs]) for fs in dims})
    t0 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        buf.seek(0)
        with np.load(buf) as z:
            for fs in dims:
                checksum += float(z[fs][0, 0])
    npz_window_s = (time.perf_counter() - t0) / reps
    return {
        "videos": len(videos),
        "frames": n_frames,
        "dims": dims,
        "array_mb": n_bytes / 1e6,
        "write_s": t_write,
        "write_mb_s": n_bytes / 1e6 / t_write,
        "puts_per_s": len(videos) * len(dims) / t_write,
        "disk_mb": size / 1e6,
        "api_windows_s": api_rate,
        "mmap_windows_s": mm_rate,
        "open_all_s": t_open,
        "npz_window_ms": npz_window_s * 1e3,
        "npz_frames": videos[v0],
        "checksum": checksum,
    }


def bench_compression() -> dict:
    """zlib ratio of real audio features (clips with non-silent audio) and of random ones.

    WolfgangLanger_Pexels and d18 carry digitally silent audio (constant features, which
    compress ~250x): they are left out as unrepresentative.
    """
    from vafusion.extraction import Pipeline

    parts = []
    with Pipeline("audio") as pipe:
        for name in ("d20.mp4", "single_face.mp4", "no_face.mp4", "face_noface.mov"):
            t = pipe.process(CLIPS / name)["audio"]
            parts.append(t.values[t.valid])
    values = np.concatenate(parts)
    raw = np.ascontiguousarray(values).tobytes()
    out = {"audio_raw_kb": len(raw) / 1e3, "audio_rows": len(values)}
    for level in (1, 6):
        t0 = time.perf_counter()
        comp = zlib.compress(raw, level)
        out[f"audio_zlib{level}_ratio"] = len(raw) / len(comp)
        out[f"audio_zlib{level}_mb_s"] = len(raw) / 1e6 / (time.perf_counter() - t0)
    rnd = np.random.default_rng(0).standard_normal(values.shape, dtype=np.float32).tobytes()
    out["random_zlib6_ratio"] = len(rnd) / len(zlib.compress(rnd, 6))
    return out


def _warm_worker() -> None:
    """Import and JIT-compile the audio path in a worker (librosa's numba kernels)."""
    import numpy as np

    from vafusion.features.audio import AudioConfig, compute_audio_features
    from vafusion.io.media import AudioSignal

    sig = AudioSignal(np.zeros(16000, np.float32) + 1e-3, 16000, 0.0, 1.0)
    compute_audio_features(sig, np.arange(25) / 25.0, AudioConfig())


def bench_extract(clips: list[Path], copies: int) -> dict:
    from distributed import Client, LocalCluster

    from vafusion.extraction import extract
    from vafusion.store import FeatureStore

    tmp = Path(tempfile.mkdtemp(prefix="vafusion-bench-"))
    try:
        folder = tmp / "clips"
        folder.mkdir()
        for k in range(copies):
            for c in clips:
                shutil.copyfile(c, folder / f"{c.stem}_{k}{c.suffix}")
        _warm_worker()  # numba compilation in this process
        t0 = time.perf_counter()
        r1 = extract([folder], tmp / "w1", workers=1)
        t1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        r2 = extract([folder], tmp / "w2", workers=2)
        t2_cold = time.perf_counter() - t0
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_warm_worker)
            t0 = time.perf_counter()
            r3 = extract([folder], tmp / "w3", scheduler=cluster.scheduler_address)
            t2_warm = time.perf_counter() - t0
        store = FeatureStore(tmp / "w1")
        media_s = sum((store.video_info(v) or {}).get("duration_s", 0.0) for v in store.videos())
        return {
            "clips": r1.n_videos,
            "frames": r1.frames,
            "media_s": media_s,
            "w1_s": t1,
            "w2_cold_s": t2_cold,
            "w2_warm_s": t2_warm,
            "failed": {**r1.failed, **r2.failed, **r3.failed},
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 412 videos")
    parser.add_argument("--dims", default="audio=168,expression=135,facepose=653")
    parser.add_argument("--windows", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "bench_store"))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic store")
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--clips", nargs="*", type=Path, default=None)
    parser.add_argument("--copies", type=int, default=3, help="copies of each clip")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
    s = bench_store(args)
    print("\n## Store (synthetic Aff-Wild2)")
    print(f"- scale {args.scale}: {s['videos']} videos, {s['frames']:,} frames, dims {s['dims']}")
    print(
        f"- write: {s['array_mb']:.0f} MB of arrays in {s['write_s']:.1f} s = "
        f"**{s['write_mb_s']:.0f} MB/s** ({s['puts_per_s']:.1f} entries/s, fsync incl.)"
    )
    print(f"- on disk: **{s['disk_mb']:.0f} MB** (arrays {s['array_mb']:.0f} MB)")
    print(
        f"- random 15-frame windows, all {len(s['dims'])} sets: "
        f"**{s['mmap_windows_s']:,.0f} windows/s** from memmaps opened once "
        f"(opening all {s['videos'] * len(s['dims'])} took {s['open_all_s']:.2f} s); "
        f"{s['api_windows_s']:,.0f} windows/s through FeatureStore.read_rows per call"
    )
    print(
        f"- same window from a compressed .npz (whole-array decompression, "
        f"{s['npz_frames']} frames): {s['npz_window_ms']:.0f} ms/window"
    )
    c = bench_compression()
    print(
        f"- zlib on real audio features ({c['audio_rows']} valid rows of 4 clips with sound): "
        f"ratio {c['audio_zlib1_ratio']:.2f} (level 1, "
        f"{c['audio_zlib1_mb_s']:.0f} MB/s), {c['audio_zlib6_ratio']:.2f} (level 6, "
        f"{c['audio_zlib6_mb_s']:.0f} MB/s); random features {c['random_zlib6_ratio']:.2f}"
    )
    if not args.keep:
        shutil.rmtree(Path(args.out) / "store", ignore_errors=True)
    if args.skip_extract:
        return
    clips = args.clips or sorted(p for p in CLIPS.iterdir() if p.suffix in (".mp4", ".mov"))
    e = bench_extract(clips, args.copies)
    print("\n## Extraction speed-up (audio features, real clips)")
    print(
        f"- {e['clips']} videos ({args.copies} copies of {len(clips)} clips), {e['frames']} "
        f"frames, {e['media_s']:.0f} s of media"
    )
    print(f"- 1 worker (in-process): {e['w1_s']:.1f} s ({e['media_s'] / e['w1_s']:.1f}x real time)")
    print(
        f"- 2 workers, fresh LocalCluster (start, imports, numba JIT per worker included): "
        f"{e['w2_cold_s']:.1f} s -> speed-up **{e['w1_s'] / e['w2_cold_s']:.2f}x**"
    )
    print(
        f"- 2 workers, running warmed-up cluster (--scheduler): {e['w2_warm_s']:.1f} s -> "
        f"speed-up **{e['w1_s'] / e['w2_warm_s']:.2f}x**"
    )
    if e["failed"]:
        print(f"- failures: {e['failed']}")


if __name__ == "__main__":
    main()
