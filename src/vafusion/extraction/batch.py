"""Extraction driver: videos -> feature store, in-process or on a Dask cluster.

One task per video decodes it once and runs every requested feature set
(:meth:`vafusion.extraction.Pipeline.process`), then writes one store entry per set
(:meth:`vafusion.store.FeatureStore.put`, atomic). Complete entries with the same key
(:func:`vafusion.extraction.config.set_key`) are skipped, so re-running an interrupted
command only does what is missing. A video that fails (corrupt, unreadable, no frames, a
feature-set error) is recorded in the store with its one-line error and the run goes on.

Loaded pipelines are reused across videos, never across threads: in-process one cache for
the run, on a Dask worker one cache per worker thread (``dask worker --nthreads N`` runs N
tasks at once, each with its own face tracker and per-video state).

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
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vafusion.datasets.inputs import empty_folders, find_inputs, video_name
from vafusion.errors import ConfigError, MediaError, VafusionError
from vafusion.extraction.config import PipelineConfig
from vafusion.extraction.guard import check_main_guard
from vafusion.extraction.pipeline import Pipeline
from vafusion.log import get_logger, progress_bar
from vafusion.store.feature_store import check_video_name

log = get_logger("extract")

#: env set in Dask worker processes: one BLAS/OpenMP thread each (N workers = N cores)
THREAD_ENV = {
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


class _PipelineCache:
    """Pipelines by configuration, for one thread: models load once, trackers are not shared."""

    def __init__(self) -> None:
        self._pipes: dict[str, Pipeline] = {}

    def get(self, config: PipelineConfig) -> Pipeline:
        key = json.dumps(config.to_dict(), sort_keys=True, default=str)
        if key not in self._pipes:
            self._pipes[key] = Pipeline(config)
        return self._pipes[key]

    def close(self) -> None:
        for pipe in self._pipes.values():
            pipe.close()
        self._pipes.clear()


#: per worker thread (a ``dask worker --nthreads N`` runs N tasks in one process)
_THREAD_CACHE = threading.local()


def _thread_cache() -> _PipelineCache:
    cache = getattr(_THREAD_CACHE, "cache", None)
    if cache is None:
        cache = _THREAD_CACHE.cache = _PipelineCache()
    return cache


def _limit_threads() -> None:
    for k, v in THREAD_ENV.items():
        os.environ.setdefault(k, v)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def one_line(exc: BaseException) -> str:
    """A failure as one line (the error class named for vafusion's own errors)."""
    if isinstance(exc, VafusionError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


def extract_one(
    path: str,
    store_root: str,
    config: PipelineConfig,
    *,
    single_thread: bool = False,
    cache: _PipelineCache | None = None,
    pool: Any = None,
) -> dict[str, Any]:
    """Extract the feature sets of ``config`` from one video and write them to the store.

    This is the task every executor runs. It never raises for a bad video: the error is
    recorded in the store and returned.

    Parameters
    ----------
    path : str
        Video file or frame-image folder.
    store_root : str
    config : PipelineConfig
        The sets to extract and every setting.
    single_thread : bool
        Limit BLAS/OpenMP/OpenCV threads to one (Dask workers).
    cache : optional
        Pipelines to reuse (default: this thread's).

    pool : ChunkPool or DaskChunks, optional
        Track the video's time chunks there (:mod:`vafusion.parallel`).

    Returns
    -------
    dict
        ``{"video", "status": "done"|"failed", "n_frames", "error", "warning"}``.
    """
    from vafusion.datasets.imageseq import ImageSequence, is_image_sequence
    from vafusion.store import FeatureStore

    if single_thread:
        _limit_threads()
    video = video_name(path)
    store = FeatureStore(store_root)
    t0 = time.perf_counter()
    try:
        pipe = (cache or _thread_cache()).get(config)
        source = None
        if is_image_sequence(path):
            source = ImageSequence(path, max_side=config.decoder.size_cap)
        if pool is not None and source is None:
            from vafusion.parallel.local import process_chunked

            result = process_chunked(pipe, path, pool)
        else:
            result = pipe.process(source or path)
        info = result.info
        info_dict = info.to_dict()
        for name in config.features:
            table = result.tables[name]
            # what the key covers, and the pipeline that re-makes it (read by training)
            table.meta["provenance"] = pipe.provenance(name)
            table.meta["pipeline"] = config.only([name]).to_dict()
            store.put(
                video,
                table,
                extractor_hash=result.keys[name],
                video_info=info_dict,
                config=pipe.sets[name].config_dict(),
            )
        store.clear_failure(video)
    except Exception as exc:  # one bad video must not stop the run
        error = one_line(exc)
        try:
            store.record_failure(video, error, features=list(config.features))
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
def _complete(store, video: str, feature_set: str, extractor_hash: str) -> bool:
    """Whether a complete, undamaged entry exists (a damaged one is re-extracted)."""
    problem = store.problem(video, feature_set, extractor_hash)
    if problem and problem != "no entry":
        log.warning("%s/%s: damaged store entry (%s): extracting it again", video, feature_set,
                    problem)  # fmt: skip
    return problem is None


def plan(
    videos: Sequence[Path],
    store,
    config: PipelineConfig,
    overwrite: bool = False,
) -> tuple[list[tuple[Path, list[str]]], list[str]]:
    """Which feature sets each video still needs: ``([(path, sets)], skipped names)``."""
    with Pipeline(config) as pipe:  # loads the sets (their weights enter the keys)
        keys = pipe.keys()
    todo, skipped = [], []
    for p in videos:
        v = video_name(p)
        need = [n for n in config.features if overwrite or not _complete(store, v, n, keys[n])]
        if need:
            todo.append((p, need))
        else:
            skipped.append(v)
    return todo, skipped


def extract(
    inputs: Iterable[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    features: Sequence[str] | str | PipelineConfig = ("audio",),
    workers: int = 1,
    scheduler: str | None = None,
    overwrite: bool = False,
    configs: Mapping[str, Any] | None = None,
    max_side: int | None = None,
) -> ExtractReport:
    """Extract per-frame features of many videos into a feature store.

    Parameters
    ----------
    inputs : path or iterable of paths
        Video files and/or folders (searched recursively).
    out : str or PathLike
        Feature store folder (created if needed).
    features : str, sequence of str or PipelineConfig, default ("audio",)
        Feature sets, e.g. ``"audio,facepose,expression"`` (all computed in one decode
        pass), or a whole :class:`~vafusion.extraction.PipelineConfig`.
    workers : int, default 1
        ``<= 1``: in this process. ``N > 1``: a Dask ``LocalCluster`` of N single-threaded
        worker processes (capped at the number of videos left to do).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:port``); overrides ``workers``.
    overwrite : bool, default False
        Re-extract even complete entries.
    configs : mapping of str to config dataclass, optional
        Per feature set config (default: the paper's settings); only with set names.
    max_side : int, optional
        Decoder size cap (default 1280; 0: none); only with set names.

    Returns
    -------
    ExtractReport
        ``report.failed`` lists failing videos; ``report.exit_code`` is 1 if any.
    """
    from vafusion.store import FeatureStore

    t0 = time.perf_counter()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(features, PipelineConfig):
        if configs or max_side is not None:
            raise ConfigError("give configs/max_side inside the PipelineConfig, not beside it")
        config = features
    else:
        config = PipelineConfig.of(features, configs, max_side=max_side)
    if workers > 1 or scheduler:
        check_main_guard()
    names = list(config.features)
    inputs = [Path(i) for i in inputs]
    videos = find_inputs(inputs)
    store = FeatureStore(out)
    store.check_writable()  # before decoding anything
    store.cleanup()
    # a file whose stem cannot be a store key ("..", "a\\b", ".hidden") fails alone
    bad_names = {k: one_line(e) for k, e in empty_folders(inputs, videos).items()}
    for p in list(videos):
        try:
            check_video_name(video_name(p))
        except VafusionError as exc:
            videos.remove(p)
            bad_names[video_name(p)] = one_line(
                ConfigError(f"{exc.message}: rename the file to extract it", p)
            )
    todo, skipped = plan(videos, store, config, overwrite)
    # one video on several cores: its time chunks in local worker processes, no cluster
    chunk_workers = workers if len(todo) == 1 and not scheduler else 1
    workers = max(1, min(workers, len(todo)))  # no idle workers; 1 video: no cluster
    if scheduler:
        executor = scheduler
    elif workers > 1:
        executor = f"LocalCluster({workers})"
    elif chunk_workers > 1:
        executor = f"local, {chunk_workers} chunk processes"
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
    tasks = [(p, config.only(sets)) for p, sets in todo]
    if tasks:
        from vafusion.parallel.extract_chunks import extract_local_chunked, needs_faces
        from vafusion.parallel.local import splits_into_chunks

        if scheduler or workers > 1:
            from vafusion.extraction.dask_runner import run_dask

            results = run_dask(tasks, str(out), workers, scheduler)
        elif (
            chunk_workers > 1
            and needs_faces(tasks[0][1])
            and splits_into_chunks(tasks[0][0], chunk_workers)
        ):
            results = [extract_local_chunked(*tasks[0], str(out), chunk_workers)]
            log_result(results[0], 1, 1)
        else:
            results = _run_local(tasks, str(out))
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


def _run_local(tasks, store_root):
    from vafusion.isolation import IsolatedWorker

    results = []
    with (
        progress_bar("videos", total=len(tasks), unit="videos") as advance,
        IsolatedWorker() as worker,  # a native crash fails one video, not the run
    ):
        for i, (path, config) in enumerate(tasks):
            try:
                # the worker process keeps its pipelines (loaded models) between videos
                r = worker.call(extract_one, str(path), store_root, config, label=str(path))
            except MediaError as exc:
                r = record_failed(store_root, path, one_line(exc))
            log_result(r, i + 1, len(tasks))
            results.append(r)
            advance()
    return results


def record_failed(store_root: str, path: Path, error: str) -> dict[str, Any]:
    """Record a video whose task died (not caught by :func:`extract_one`) as failed."""
    from vafusion.store import FeatureStore

    FeatureStore(store_root).record_failure(video_name(path), error)
    return {"video": video_name(path), "status": "failed", "n_frames": 0, "error": error}


def log_result(r: dict, i: int, n: int) -> None:
    """Log video ``i`` of ``n``'s result (and the warnings a Dask worker sent back)."""
    for w in r.get("warnings", ()):  # raised on a Dask worker
        log.warning("%s", w)
    if r["status"] == "done":
        log.info("[%d/%d] %s: %d frames", i, n, r["video"], r["n_frames"])
    else:
        log.warning("[%d/%d] %s failed: %s", i, n, r["video"], r["error"])
