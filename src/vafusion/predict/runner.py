"""How ``predict`` runs: isolated worker processes per video, or one video in time chunks.

:func:`run_predictions` is the engine behind :func:`vafusion.predict.api.predict`,
``predict_to_folder`` and ``predict_to_abaw``: it checks the output folder, picks the way
to use the cores (videos side by side in isolated workers, or a single video's time chunks
tracked in a :class:`~vafusion.parallel.local.ChunkPool`), runs :func:`predict_one` per
video and writes the run's index.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vafusion.errors import ConfigError, MediaError, VafusionError
from vafusion.fileio import (
    all_or_nothing,
    check_output_folder,
    remove_dead_temporaries,
    safe_stem,
)
from vafusion.log import get_logger, progress_bar
from vafusion.predict.api import VideoResult, builtin_model_class, load_model, parse_face
from vafusion.predict.outputs import build_summary, write_outputs
from vafusion.predict.stride import check_stride
from vafusion.report.player import ReportOptions
from vafusion.report.stress import StressConfig

log = get_logger("predict")


def pool_tracker_config(model: Any):
    """Tracker settings to start chunk workers with, before ``model`` is loaded.

    A loaded model's own; a built-in model's defaults by name
    (:meth:`~vafusion.predict.circumplex_model.CircumplexModel.default_tracker_config`);
    None (the tracker's defaults) otherwise. A pool whose settings differ from the
    pipeline's is refused (:func:`~vafusion.parallel.local.process_chunked`).
    """
    if hasattr(model, "tracker_config"):
        return model.tracker_config
    builtin = builtin_model_class(model)
    return None if builtin is None else builtin.default_tracker_config()


@contextmanager
def _torch_threads(n: int):
    """Limit torch's intra-op threads if a model imported torch; never imports it itself.

    The default model runs on ONNX Runtime: predict must not pay torch's import.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _unique_stems(videos: Sequence[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for v in videos:
        stem = safe_stem(Path(v).stem)
        k = seen.get(stem, 0)
        seen[stem] = k + 1
        stems.append(stem if k == 0 else f"{stem}_{k + 1}")
    return stems


def run_predictions(
    paths: list[Path],
    out: str | os.PathLike | None,
    model: Any,
    face: str | int,
    overlay: bool,
    *,
    jobs: int | None = None,
    stress: StressConfig | None = None,
    report: ReportOptions | None = None,
    stride: int = 1,
) -> list[VideoResult]:
    """Shared engine of :func:`predict` and :func:`predict_to_folder`.

    A model given by name or path is loaded, and each video predicted and written, in an
    isolated worker process per job (:mod:`vafusion.isolation`): a native crash on one
    file fails that file alone. A model object is used in this process.

    A single video on several cores instead goes to :func:`predict_chunked`: its time
    chunks are tracked in worker processes, which isolate the decoding the same way.
    """
    import queue

    from vafusion.isolation import IsolatedWorker

    face = parse_face(face)
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        check_output_folder(out_dir)  # before any work: one line, not a traceback
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_dead_temporaries(out_dir)  # what a killed run left between write and rename
    stems = _unique_stems(paths)
    stride = check_stride(stride)
    if stride != 1 and not _supports(model, "supports_stride"):
        raise ConfigError("--stride needs the default model (a checkpoint analyses every frame)")
    cores = jobs or os.cpu_count() or 1
    from vafusion.parallel.local import splits_into_chunks

    if (
        cores > 1
        and len(paths) == 1
        and _supports(model, "supports_chunks")
        and splits_into_chunks(paths[0], cores)
    ):
        args = (model, paths[0], stems[0], out_dir, face, stress, overlay)
        results = [predict_chunked(*args, workers=cores, stride=stride, report=report)]
        return _with_index(results, out_dir)
    isolate = model is None or isinstance(model, (str, os.PathLike))
    if not isolate:
        model = load_model(model)
    n_jobs = max(1, min(len(paths), cores))
    workers: queue.Queue = queue.Queue()
    for _ in range(n_jobs):
        workers.put(IsolatedWorker(enabled=isolate))

    def one(i: int) -> VideoResult:
        worker = workers.get()
        try:
            args = (model, paths[i], stems[i], out_dir, face, stress, overlay, report, stride)
            return worker.call(predict_one, *args, label=str(paths[i]))
        except MediaError as exc:  # the worker process died on this file
            return VideoResult(video=str(paths[i]), stem=stems[i], error=str(exc))
        finally:
            workers.put(worker)
            done()

    try:
        with progress_bar("videos", total=len(paths), unit="videos") as done:
            if n_jobs == 1:
                results = [one(i) for i in range(len(paths))]
            else:
                with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="vafusion") as pool:
                    results = list(pool.map(one, range(len(paths))))
    finally:
        while not workers.empty():
            workers.get().close()
    return _with_index(results, out_dir)


def _with_index(results: list[VideoResult], out_dir: Path | None) -> list[VideoResult]:
    """Write ``index.html`` and ``summary.csv`` of the run into ``out_dir`` (if any)."""
    if out_dir is not None and results:
        from vafusion.report.index import write_index

        index = write_index(results, out_dir)["index"]
        log.info("summary of %d video(s): %s", len(results), index)
    return results


#: models loaded in this process, by name/path (a worker keeps its model between videos)
_MODELS: dict[str, tuple[Any, float]] = {}


def _loaded(model: Any) -> tuple[Any, float]:
    """``(model object, seconds it took to load)``; names and paths loaded once."""
    if not (model is None or isinstance(model, (str, os.PathLike))):
        return model, float(getattr(model, "load_s", 0.0))
    key = str(model)
    if key not in _MODELS:
        t0 = time.perf_counter()
        m = load_model(model)
        _MODELS[key] = (m, getattr(m, "load_s", time.perf_counter() - t0))
    return _MODELS[key]


def predict_one(
    model: Any,
    path: Path,
    stem: str,
    out_dir: Path | None,
    face: str | int,
    stress: StressConfig | None,
    overlay: bool,
    report: ReportOptions | None = None,
    stride: int = 1,
    pool: Any = None,
) -> VideoResult:
    """Predict one video and write its outputs; a bad video gives ``error``, not a raise.

    ``stride`` and ``pool`` (a :class:`~vafusion.parallel.local.ChunkPool`) are passed to
    the model's ``predict_video`` when they are not the defaults.

    Raises
    ------
    ModelError
        If the model cannot be loaded (that stops the whole batch).
    """
    model, load_s = _loaded(model)
    if out_dir is not None:
        # the report's libraries (~1 s of imports) load while the video is analysed, after
        # the model (not competing with its loading); one thread per process
        from vafusion.report import import_in_background

        import_in_background()
    res = VideoResult(video=str(path), stem=stem)
    try:
        # one core for torch per worker: the face tracker and the expression network of
        # a video already run in two threads, and several videos run side by side
        extra: dict[str, Any] = {"pool": pool} if pool is not None else {}
        if stride != 1:
            extra["stride"] = stride
        with _torch_threads(1):
            pred = model.predict_video(path, face=face, **extra)
        pred.stats["model_load_s"] = load_s
        pred.explain = bool(report is not None and report.explain)
        for w in pred.warnings:
            # "no face" was already logged by the face/expression extractor of this
            # video: said once on the terminal (the report still shows it)
            if not w.startswith("no face found"):
                log.warning("%s: %s", path, w)
        res.prediction = pred
        if out_dir is not None:
            res.summary = build_summary(pred, model, face, stress)
            with all_or_nothing(out_dir, safe_stem(stem)):  # e.g. a full disk
                res.outputs = write_outputs(
                    pred, out_dir, stem, model, face, stress, overlay,
                    report=report, summary=res.summary,
                )  # fmt: skip
    except VafusionError as exc:
        res.error = str(exc) if exc.path else f"{path}: {exc}"
        log.debug("%s", res.error)
    return res


def _supports(model: Any, flag: str) -> bool:
    """Whether ``model`` (a model object, or a name/path for :func:`load_model`) has ``flag``."""
    if model is None or str(model) == "default":
        from vafusion.predict.default_model import DefaultModel

        return bool(getattr(DefaultModel, flag, False))
    if str(model) == "circumplex":
        from vafusion.predict.circumplex_model import CircumplexModel

        return bool(getattr(CircumplexModel, flag, False))
    if isinstance(model, (str, os.PathLike)):
        return False  # checkpoints: every frame, one process
    return bool(getattr(model, flag, False))


def predict_chunked(
    model: Any,
    path: Path,
    stem: str,
    out_dir: Path | None,
    face: str | int,
    stress: StressConfig | None,
    overlay: bool,
    *,
    workers: int,
    stride: int = 1,
    report: ReportOptions | None = None,
) -> VideoResult:
    """:func:`predict_one` with the video's time chunks tracked in ``workers`` processes.

    The worker processes start first, so they load their face trackers while this
    process loads the rest of the model. A worker that dies (native crash) fails the video
    with one :class:`~vafusion.errors.MediaError` line, as in an isolated worker.
    """
    from concurrent.futures.process import BrokenProcessPool

    from vafusion.parallel.local import ChunkPool

    t0 = time.perf_counter()
    with (
        ChunkPool(workers, pool_tracker_config(model)).start() as pool,
        progress_bar("videos", total=1, unit="videos") as done,
    ):
        if model is None or isinstance(model, (str, os.PathLike)):
            model = load_model(model, face_tracking=False)
            model.load_s = getattr(model, "load_s", time.perf_counter() - t0)
        try:
            args = (model, path, stem, out_dir, face, stress, overlay, report, stride, pool)
            res = predict_one(*args)
        except BrokenProcessPool:
            msg = "a decoding process died (native crash?); damaged or unsupported file?"
            res = VideoResult(video=str(path), stem=stem, error=str(MediaError(msg, path)))
        done()
    return res
