"""``predict``: videos -> per-frame valence/arousal tables, plots, reports, summaries.

Output files of one video (``<stem>`` is the file name without extension, made safe so
that it cannot leave the output folder), all written atomically (temp file + rename):

``<stem>.csv``
    ``frame, timestamp, face_id, face_valid, valence, arousal``: one row per decoded frame
    per reported face; valence/arousal empty (NaN) where the face is not seen.
``<stem>.png``
    Valence and arousal over time (face-missing spans shaded) and the circumplex path.
``<stem>.html``
    Self-contained report (no network): the video in sync with the curves, moments,
    stress summary (see :mod:`vafusion.report.player`).
``<stem>.json``
    Summary: video facts, per-face statistics, stress summary, processing statistics.
``<stem>_overlay.mp4``
    With ``overlay=True``: the video with the face box and a valence-arousal gauge.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from vafusion.predict.outputs import build_summary, write_outputs
from vafusion.predict.stride import check_stride
from vafusion.predict.types import VideoPrediction
from vafusion.report.player import ReportOptions
from vafusion.report.stress import StressConfig
from vafusion.results import BatchResult

log = get_logger("predict")

#: ``--face`` choices besides a track id (see :func:`vafusion.faces.subjects.choose_track`).
FACE_CHOICES = ("main", "left", "right", "all")


def parse_face(face: str | int) -> str | int:
    """Validate a ``--face`` value (``main|left|right|all`` or a track id)."""
    if isinstance(face, int):
        return face
    text = str(face).strip().lower()
    if text in FACE_CHOICES:
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"--face must be one of {', '.join(FACE_CHOICES)} or a face id, got {face!r}"
        ) from None


@dataclass
class VideoResult:
    """Outcome for one video of a :func:`predict_to_folder` call.

    Attributes
    ----------
    video : str
    stem : str
        Safe file stem used for the outputs.
    prediction : VideoPrediction or None
        None if the video failed.
    outputs : dict of str to Path
        ``csv``, ``png``, ``html``, ``json`` (and ``overlay``) paths.
    error : str or None
        One-line error naming the file, if it failed.
    summary : dict
        What ``<stem>.json`` holds (:func:`build_summary`), when outputs were written.
    """

    video: str
    stem: str
    prediction: VideoPrediction | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def expand_videos(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, folders replaced by the videos in them (recursively, sorted).

    Missing files are kept (their error is reported with the other videos' results);
    hidden files and folders are skipped.

    Raises
    ------
    ConfigError
        A folder holds no video.
    """
    from vafusion.datasets.layouts import VIDEO_EXTENSIONS

    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.is_dir():
            found.append(p)
            continue
        inside = []
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            inside += [
                Path(dirpath) / f
                for f in sorted(filenames)
                if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS
            ]
        if not inside:
            raise ConfigError("no video file in this folder", p)
        found += inside
    return found


def load_model(model: Any = "default", *, smooth: bool = True, face_tracking: bool = True):
    """The model to predict with.

    Parameters
    ----------
    model : "default", "circumplex", a path, or a model object
        ``"default"``: the built-in multi-cue model (:class:`DefaultModel`);
        ``"circumplex"``: the first built-in model, the circumplex prior alone
        (:class:`CircumplexModel`); a path: a ``vafusion train`` checkpoint file or run
        folder (:class:`CheckpointModel`); an object with ``predict_video`` is returned as is.
    smooth : bool, default True
        Checkpoints: apply the output smoothing the checkpoint carries (False: raw outputs).

    face_tracking : bool
        Default model only: build its face tracker in this process now (False when
        worker processes track the faces).

    Raises
    ------
    ModelError
        If the checkpoint cannot be loaded.
    """
    if hasattr(model, "predict_video"):
        return model
    if model is None or str(model) == "default":
        from vafusion.predict.default_model import DefaultModel

        return DefaultModel(face_tracking=face_tracking)
    if str(model) == "circumplex":
        from vafusion.predict.circumplex_model import CircumplexModel

        return CircumplexModel(face_tracking=face_tracking)
    from vafusion.predict.checkpoint_model import CheckpointModel

    return CheckpointModel(model, smooth=smooth)


def pool_tracker_config(model: Any):
    """Tracker settings to start chunk workers with, before ``model`` is loaded.

    A loaded model's own; the built-in models' defaults by name; None (the tracker's
    defaults) for a checkpoint not loaded yet. Workers whose settings differ from the
    model's are not used (:func:`~vafusion.parallel.local.process_chunked` falls back to
    one sequential pass).
    """
    if hasattr(model, "tracker_config"):
        return model.tracker_config
    if model is None or str(model) == "default":
        from vafusion.predict.default_model import DefaultModel

        return DefaultModel.default_tracker_config()
    return None


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


def predict(
    videos: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    model: Any = "default",
    face: str | int = "main",
    overlay: bool = False,
    *,
    jobs: int | None = None,
    stress: StressConfig | None = None,
    report: ReportOptions | None = None,
    stride: int = 1,
):
    """Predict per-frame valence and arousal of one or several videos.

    Parameters
    ----------
    videos : path or sequence of paths
        Video files (any container/codec FFmpeg reads).
    out : path, optional
        If given, write ``<stem>.csv/.png/.html/.json`` there (see the module docstring).
    model : "default", path or model object
        See :func:`load_model`. Loaded once and shared by all videos.
    face : {"main", "left", "right", "all"} or int
        Which face(s) to report.
    overlay : bool
        Also write ``<stem>_overlay.mp4`` (needs ``out``).
    jobs : int, optional
        Processes to use (default: the number of cores). Videos run side by side; a
        single video is split into time chunks tracked in ``jobs`` worker processes
        (:mod:`vafusion.parallel`) when the model supports it.
    stress : StressConfig, optional
        Thresholds of the stress summary.
    report : ReportOptions, optional
        How the HTML report carries the video (embedded by default).
    stride : int, default 1
        Analyse every ``stride``-th frame and interpolate the others (rows marked
        ``interpolated``; see :mod:`vafusion.predict.stride` and docs/predict.md).

    Returns
    -------
    pandas.DataFrame or BatchResult
        For one video, a DataFrame indexed by time (seconds) with columns ``frame,
        timestamp, face_id, face_valid, valence, arousal``; for a sequence, a
        :class:`~vafusion.results.BatchResult`: a dict from video path to such a DataFrame
        for every video that worked, and ``.errors`` (path -> one-line error) for the
        others: one bad video never discards the good results.

    Raises
    ------
    VafusionError
        If the one video given cannot be processed.

    Examples
    --------
    >>> df = predict("meeting.mp4")  # doctest: +SKIP
    >>> df[["valence", "arousal"]].mean()  # doctest: +SKIP
    """
    single = isinstance(videos, (str, os.PathLike))
    paths = [Path(videos)] if single else [Path(v) for v in videos]
    if overlay and out is None:
        raise ConfigError("overlay=True needs an output folder (out=...)")
    results = run_predictions(
        paths, out, model, face, overlay, jobs=jobs, stress=stress, report=report, stride=stride
    )
    if single:
        if results[0].error:
            raise VafusionError(results[0].error)
        return results[0].prediction.to_frame()
    return BatchResult(
        {r.video: r.prediction.to_frame() for r in results if r.prediction is not None},
        errors={r.video: r.error for r in results if r.error},
    )


def predict_to_folder(
    videos: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model: Any = "default",
    face: str | int = "main",
    overlay: bool = False,
    *,
    jobs: int | None = None,
    stress: StressConfig | None = None,
    report: ReportOptions | None = None,
    stride: int = 1,
) -> list[VideoResult]:
    """Like :func:`predict` with ``out`` but never raises for a bad video.

    Returns
    -------
    list of VideoResult
        In input order; failed videos have ``error`` set and their outputs are not written.
    """
    return run_predictions(
        [Path(v) for v in videos],
        out,
        model,
        face,
        overlay,
        jobs=jobs,
        stress=stress,
        report=report,
        stride=stride,
    )


def predict_to_abaw(
    videos: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model: Any = "default",
    face: str = "main",
    *,
    jobs: int | None = None,
    stride: int = 1,
) -> list[VideoResult]:
    """Predict and write only the ABAW challenge's submission files (no report).

    One ``out/<stem>[_left|_right].txt`` per video (:mod:`vafusion.datasets.abaw`: header
    ``valence,arousal``, one line per decoded frame; frames without the face filled).

    Parameters
    ----------
    face : {"main", "left", "right"}
        The subject; ``left`` / ``right`` add the suffix Aff-Wild2 uses for two annotated
        people in one video.

    Returns
    -------
    list of VideoResult
        ``outputs["abaw"]`` is the file; failed videos have ``error`` set.
    """
    from vafusion.datasets.abaw import abaw_name, write_prediction_abaw

    abaw_name("x", parse_face(face))  # refuse "all" / face ids before any work
    results = run_predictions(
        [Path(v) for v in videos], None, model, face, False, jobs=jobs, stride=stride
    )
    for r in results:
        if r.prediction is not None:
            r.outputs["abaw"] = write_prediction_abaw(r.prediction, out, r.stem, face)
    return results


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
