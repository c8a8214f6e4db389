"""The front door's ``process_file`` / ``process_files``: media -> time-indexed DataFrames.

In the style of opensmile-python: one call per file (or per list of files) returning one
DataFrame convention (:meth:`vafusion.extraction.VideoFeatures.to_frame`): one row per decoded
frame indexed by ``time`` in seconds, NaN rows where a face (or audio) is missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vafusion.errors import VafusionError
from vafusion.log import get_logger
from vafusion.results import BatchResult

log = get_logger("api")


def _pipeline(features: Any):
    from vafusion.extraction import Pipeline

    return features if isinstance(features, Pipeline) else Pipeline(features)


def process_file(
    path: str | os.PathLike,
    features: Any = "audio",
    *,
    face: str | int = "main",
):
    """Per-frame features of one video as a time-indexed DataFrame.

    Parameters
    ----------
    path : str or PathLike
        A video file (any container/codec FFmpeg reads).
    features : str, sequence of str, PipelineConfig or Pipeline, default "audio"
        The sets (``"audio,facepose,expression"``), a whole
        :class:`~vafusion.extraction.PipelineConfig`, or an open
        :class:`~vafusion.extraction.Pipeline` to reuse (not closed here).
    face : {"main", "left", "right"} or int
        Subject of the face sets.

    Returns
    -------
    pandas.DataFrame
        ``n_frames`` rows, index ``time`` (s), columns ``frame``, then per set its validity
        column and its features (NaN where invalid).

    Raises
    ------
    VafusionError
        The file cannot be processed (:class:`~vafusion.errors.MediaError`, ...).

    Examples
    --------
    >>> import vafusion
    >>> df = vafusion.process_file("clip.mp4", "audio,expression")  # doctest: +SKIP
    >>> df["emo_happy"].idxmax()  # doctest: +SKIP
    """
    from vafusion.extraction import Pipeline

    pipe = _pipeline(features)
    try:
        return pipe.process(path).to_frame(face)
    finally:
        if not isinstance(features, Pipeline):
            pipe.close()


def process_files(
    paths: Sequence[str | os.PathLike],
    features: Any = "audio",
    *,
    face: str | int = "main",
) -> BatchResult:
    """:func:`process_file` for several files with one pipeline (models loaded once).

    Returns
    -------
    BatchResult
        ``{path: DataFrame}`` of the files that worked; ``.errors`` holds one line per
        file that failed (the others are still processed).
    """
    from vafusion.extraction import Pipeline

    out = BatchResult()
    pipe = _pipeline(features)
    try:
        for path in paths:
            try:
                out[str(path)] = pipe.process(path).to_frame(face)
            except VafusionError as exc:
                out.errors[str(path)] = str(exc) if exc.path else f"{path}: {exc}"
                log.warning("%s", out.errors[str(path)])
    finally:
        if not isinstance(features, Pipeline):
            pipe.close()
    return out
