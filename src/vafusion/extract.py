"""Extraction driver: videos -> feature store, in-process or on a Dask cluster.

One task per video decodes it once and runs every requested feature set
(:func:`vafusion.features.pipeline.extract_features`), then writes one store entry per set
(:meth:`vafusion.store.FeatureStore.put`, atomic). Complete entries with the same config
hash are skipped, so re-running an interrupted command only does what is missing. A video
that fails (corrupt, unreadable, no frames, an extractor error) is recorded in the store
with its one-line error and the run goes on.

Executors (the same task function in every case):

- ``workers <= 1`` and no ``scheduler``: in this process, no Dask at all;
- ``workers = N > 1``: a Dask ``LocalCluster(n_workers=N, threads_per_worker=1,
  processes=True)`` started and stopped by :func:`extract`;
- ``scheduler="tcp://host:port"``: an existing Dask cluster (``distributed.Client``).
  Workers write straight into the store, so the store folder must be on a file system that
  every worker sees at the same path (NFS, Lustre, ...) with working ``flock``.

Examples
--------
>>> report = extract(["videos/"], "features/", features=("audio",), workers=2)  # doctest: +SKIP
>>> report.failed                                                              # doctest: +SKIP
{'broken': 'MediaError: broken.mp4: no decodable video frames'}
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vafusion.errors import ConfigError, MediaError, VafusionError
from vafusion.log import get_logger, progress_bar

log = get_logger("extract")

#: env set in Dask worker processes: one BLAS/OpenMP thread each (N workers = N cores)
_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@dataclass
class ExtractReport:
    """What :func:`extract` did.

    Attributes
    ----------
    store : str
    features : list of str
    n_videos : int
        Videos found in the inputs.
    done : list of str
        Videos extracted in this run.
    skipped : list of str
        Videos whose requested entries were already complete.
    failed : dict of str to str
        Video -> one-line error (also recorded in the store).
    partial : dict of str to str
        Videos that decoded only partly (e.g. truncated files): features were written for
        the decodable frames; value = warning.
    frames : int
        Frames decoded in this run.
    elapsed_s : float
    executor : str
        ``"local"``, ``"LocalCluster(N)"`` or the scheduler address.
    """

    store: str
    features: list[str]
    n_videos: int = 0
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    partial: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    elapsed_s: float = 0.0
    executor: str = "local"

    @property
    def ok(self) -> bool:
        """True when no video failed."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """1 if any video failed, else 0 (the CLI's exit status)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """Human-readable multi-line summary (failures listed one per line)."""
        fps = self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"{self.n_videos} videos: {len(self.done)} extracted, {len(self.skipped)} already "
            f"complete, {len(self.failed)} failed ({self.frames} frames in "
            f"{self.elapsed_s:.1f} s, {fps:.0f} frames/s, {self.executor}) -> {self.store}"
        ]
        for v, w in sorted(self.partial.items()):
            lines.append(f"  partial {v}: {w}")
        for v, e in sorted(self.failed.items()):
            lines.append(f"  FAILED  {v}: {e}")
        return "\n".join(lines)


def find_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into the list of videos to extract.

    Files given explicitly are taken whatever their extension; folders are searched
    recursively for files with a video extension (:data:`vafusion.datasets.VIDEO_EXTENSIONS`)
    and for frame-image folders (AFEW-VA clips, see :func:`vafusion.datasets.is_image_sequence`).
    Hidden files and folders are ignored.

    Raises
    ------
    MediaError
        An input path does not exist.
    ConfigError
        Two videos share a stem (the store is keyed by stem).
    """
    from vafusion.datasets.imageseq import is_image_sequence
    from vafusion.datasets.layouts import VIDEO_EXTENSIONS

    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise MediaError("no such file or folder", p)
        if p.is_file() or is_image_sequence(p):
            found.append(p)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            here = Path(dirpath)
            if here != p and is_image_sequence(here):
                found.append(here)
                dirnames[:] = []
                continue
            for f in sorted(filenames):
                if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS:
                    found.append(here / f)
    seen: dict[str, Path] = {}
    dups = []
    unique = []
    for p in found:
        stem = p.stem if p.is_file() else p.name
        if stem in seen:
            if seen[stem].resolve() != p.resolve():
                dups.append(f"{seen[stem]} and {p}")
            continue
        seen[stem] = p
        unique.append(p)
    if dups:
        raise ConfigError(
            "videos must have distinct names (the store is keyed by file stem): "
            + "; ".join(dups[:5])
        )
    return unique


def check_video_name(name: str) -> str:
    """Raise :class:`~vafusion.errors.StoreError` if ``name`` cannot be a store key
    (empty, a leading ``.``, or a ``/``, ``\\`` or NUL in it: it could name a path)."""
    from vafusion.store.feature_store import _check_name

    return _check_name("video", name)


def video_name(path: str | os.PathLike) -> str:
    """Store key of a video: its file stem (folder name for image sequences)."""
    p = Path(path)
    return p.name if p.is_dir() else p.stem


# ---------------------------------------------------------------------- worker side
_EXTRACTORS: dict[tuple[str, str], Any] = {}


def _extractor(name: str, config: Any) -> Any:
    """Extractor instance, cached per process (models are loaded once per worker)."""
    from vafusion.config import config_hash
    from vafusion.features.pipeline import make_extractor

    key = (name, config_hash(config) if config is not None else "")
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = make_extractor(name, config)
    return _EXTRACTORS[key]


def _config_dict(extractor: Any) -> dict | None:
    cfg = getattr(extractor, "config", None)
    if cfg is not None and dataclasses.is_dataclass(cfg):
        from vafusion.config import config_to_dict

        return config_to_dict(cfg)
    return None


def _limit_threads() -> None:
    for k, v in _THREAD_ENV.items():
        os.environ.setdefault(k, v)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, VafusionError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def extract_one(
    path: str,
    store_root: str,
    features: Sequence[str],
    configs: Mapping[str, Any] | None = None,
    *,
    single_thread: bool = False,
    max_side: int | None = 1280,
) -> dict[str, Any]:
    """Extract ``features`` of one video in one decode pass and write them to the store.

    This is the task every executor runs. It never raises for a bad video: the error is
    recorded in the store and returned.

    Returns
    -------
    dict
        ``{"video", "status": "done"|"failed", "n_frames", "error", "warning"}``.
    """
    from vafusion.datasets.imageseq import extract_image_features, is_image_sequence
    from vafusion.features.pipeline import extract_features
    from vafusion.store import FeatureStore

    if single_thread:
        _limit_threads()
    configs = dict(configs or {})
    video = video_name(path)
    store = FeatureStore(store_root)
    t0 = time.perf_counter()
    try:
        extractors = [_extractor(n, configs.get(n)) for n in features]
        if is_image_sequence(path):
            info, tables = extract_image_features(path, extractors, max_side=max_side)
        else:
            info, tables = extract_features(path, extractors, max_side=max_side)
        info_dict = info.to_dict()
        for ex in extractors:
            store.put(
                video,
                tables[ex.name],
                extractor_hash=ex.config_hash(),
                video_info=info_dict,
                config=_config_dict(ex),
            )
        store.clear_failure(video)
    except Exception as exc:  # one bad video must not stop the run
        error = _one_line(exc)
        try:
            store.record_failure(video, error, features=list(features))
        except VafusionError as exc2:
            error += f" (and could not record it: {exc2})"
        return {"video": video, "status": "failed", "n_frames": 0, "error": error}
    warning = ""
    short = info.container_n_frames > info.n_frames * 1.05 + 2
    if info.decode_errors or short:
        warning = f"decoding stopped early: features for the {info.n_frames} decodable frames"
    return {
        "video": video,
        "status": "done",
        "n_frames": int(info.n_frames),
        "error": "",
        "warning": warning,
        "seconds": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------------- driver side
def plan(
    videos: Sequence[Path],
    store,
    features: Sequence[str],
    configs: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> tuple[list[tuple[Path, list[str]]], list[str]]:
    """Which feature sets each video still needs: ``([(path, sets)], skipped names)``."""
    configs = dict(configs or {})
    hashes = {n: _extractor(n, configs.get(n)).config_hash() for n in features}
    todo, skipped = [], []
    for p in videos:
        v = video_name(p)
        need = [n for n in features if overwrite or not store.has(v, n, hashes[n])]
        if need:
            todo.append((p, need))
        else:
            skipped.append(v)
    return todo, skipped


def extract(
    inputs: Iterable[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    features: Sequence[str] | str = ("audio",),
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    configs: Mapping[str, Any] | None = None,
    max_side: int | None = 1280,
) -> ExtractReport:
    """Extract per-frame features of many videos into a feature store.

    Parameters
    ----------
    inputs : path or iterable of paths
        Video files and/or folders (searched recursively).
    out : str or PathLike
        Feature store folder (created if needed).
    features : str or sequence of str, default ("audio",)
        Feature sets, e.g. ``"audio,facepose,expression"``; all computed in one decode pass.
    workers : int, default 1
        ``<= 1``: in this process. ``N > 1``: a Dask ``LocalCluster`` of N single-threaded
        worker processes (capped at the number of videos left to do).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:port``); overrides ``workers``.
    overwrite : bool, default False
        Re-extract even complete entries.
    configs : mapping of str to config dataclass, optional
        Per feature set extractor config (default: the paper's settings). A different
        config has a different hash and so gives new store entries.
    max_side : int, optional
        Frames are downscaled in the decoder to this longer side (see ``extract_features``).

    Returns
    -------
    ExtractReport
        ``report.failed`` lists failing videos; ``report.exit_code`` is 1 if any.
    """
    from vafusion.features.pipeline import parse_feature_sets
    from vafusion.store import FeatureStore

    t0 = time.perf_counter()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    names = parse_feature_sets(features)
    if configs:
        unknown = set(configs) - set(names)
        if unknown:
            raise ConfigError(f"configs given for feature sets not requested: {sorted(unknown)}")
    videos = find_inputs(inputs)
    store = FeatureStore(out)
    store.cleanup()
    # a file whose stem cannot be a store key ("..", "a\\b", ".hidden") fails alone
    bad_names: dict[str, str] = {}
    for p in list(videos):
        try:
            check_video_name(video_name(p))
        except VafusionError as exc:
            videos.remove(p)
            bad_names[video_name(p)] = _one_line(
                ConfigError(f"{exc.message}: rename the file to extract it", p)
            )
    todo, skipped = plan(videos, store, names, configs, overwrite)
    workers = max(1, min(workers, len(todo)))  # no idle workers; 1 video: no cluster
    if scheduler:
        executor = scheduler
    elif workers > 1:
        executor = f"LocalCluster({workers})"
    else:
        executor = "local"
    report = ExtractReport(
        store=str(out),
        features=names,
        n_videos=len(videos) + len(bad_names),
        skipped=skipped,
        executor=executor,
        failed=dict(bad_names),
    )
    for v, e in bad_names.items():
        log.warning("%s failed: %s", v, e)
    if skipped:
        log.info("%d of %d videos already complete in %s", len(skipped), len(videos), out)
    if todo:
        if scheduler or workers > 1:
            results = _run_dask(todo, str(out), configs, workers, scheduler, max_side)
        else:
            results = _run_local(todo, str(out), configs, max_side)
        for r in results:
            if r["status"] == "done":
                report.done.append(r["video"])
                report.frames += r["n_frames"]
                if r.get("warning"):
                    report.partial[r["video"]] = r["warning"]
            else:
                report.failed[r["video"]] = r["error"]
    report.done.sort()
    report.elapsed_s = time.perf_counter() - t0
    return report


def _run_local(todo, store_root, configs, max_side):
    from vafusion.isolation import IsolatedWorker

    results = []
    with (
        progress_bar("videos", total=len(todo), unit="videos") as advance,
        IsolatedWorker() as worker,  # a native crash fails one video, not the run
    ):
        for i, (path, sets) in enumerate(todo):
            try:
                r = worker.call(
                    extract_one, str(path), store_root, sets, configs, max_side=max_side,
                    label=str(path),
                )  # fmt: skip
            except MediaError as exc:
                r = _failed(store_root, path, _one_line(exc))
            _log_result(r, i + 1, len(todo))
            results.append(r)
            advance()
    return results


def _failed(store_root: str, path: Path, error: str) -> dict[str, Any]:
    """Record a video whose task died (not caught by :func:`extract_one`) as failed."""
    from vafusion.store import FeatureStore

    FeatureStore(store_root).record_failure(video_name(path), error)
    return {"video": video_name(path), "status": "failed", "n_frames": 0, "error": error}


def _log_result(r: dict, i: int, n: int) -> None:
    if r["status"] == "done":
        log.info("[%d/%d] %s: %d frames", i, n, r["video"], r["n_frames"])
    else:
        log.warning("[%d/%d] %s failed: %s", i, n, r["video"], r["error"])


def _run_dask(todo, store_root, configs, workers, scheduler, max_side):
    import uuid

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=dict(_THREAD_ENV),
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    results = []
    try:
        run = uuid.uuid4().hex[:6]
        futures = {}
        for path, sets in todo:
            fut = client.submit(
                extract_one,
                str(path),
                store_root,
                list(sets),
                dict(configs or {}),
                single_thread=True,
                max_side=max_side,
                key=f"vafusion-extract-{video_name(path)}-{run}",
                pure=False,
            )
            futures[fut] = path
        with (
            progress_bar("videos", total=len(todo), unit="videos") as adv_v,
            progress_bar("frames", unit="frames") as adv_f,
        ):
            for i, fut in enumerate(as_completed(list(futures)), start=1):
                path = futures[fut]
                try:
                    r = fut.result()
                except Exception as exc:  # worker died (KilledWorker), ...
                    r = _failed(store_root, path, f"worker failed: {_one_line(exc)}")
                _log_result(r, i, len(todo))
                results.append(r)
                adv_v()
                adv_f(r.get("n_frames", 0))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results
