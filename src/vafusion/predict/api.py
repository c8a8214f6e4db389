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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vafusion.errors import ConfigError, VafusionError
from vafusion.predict.types import VideoPrediction
from vafusion.report.player import ReportOptions
from vafusion.report.stress import StressConfig
from vafusion.results import BatchResult

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


def builtin_model_class(model: Any) -> type | None:
    """The class of the built-in model ``model`` names (None or ``"default"``:
    :class:`DefaultModel`; ``"circumplex"``: :class:`CircumplexModel`), else None."""
    if model is None or str(model) == "default":
        from vafusion.predict.default_model import DefaultModel

        return DefaultModel
    if str(model) == "circumplex":
        from vafusion.predict.circumplex_model import CircumplexModel

        return CircumplexModel
    return None


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
    builtin = builtin_model_class(model)
    if builtin is not None:
        return builtin(face_tracking=face_tracking)
    from vafusion.predict.checkpoint_model import CheckpointModel

    return CheckpointModel(model, smooth=smooth)


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
    from vafusion.predict.runner import run_predictions

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
    from vafusion.predict.runner import run_predictions

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
    from vafusion.predict.runner import run_predictions

    abaw_name("x", parse_face(face))  # refuse "all" / face ids before any work
    results = run_predictions(
        [Path(v) for v in videos], None, model, face, False, jobs=jobs, stride=stride
    )
    for r in results:
        if r.prediction is not None:
            r.outputs["abaw"] = write_prediction_abaw(r.prediction, out, r.stem, face)
    return results
