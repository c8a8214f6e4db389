"""The ABAW valence-arousal challenge's submission format (the Aff-Wild2 annotation format).

One text file per annotated subject, named like its annotation file: ``<video>.txt``, or
``<video>_left.txt`` / ``<video>_right.txt`` when two people of one video are annotated
separately (the left-most / right-most face). First line ``valence,arousal``, then one
``v,a`` line per decoded frame, in frame order, values in [-1, 1]. A submission needs a value
on every frame, so frames without a prediction (no face seen) are filled: linearly
interpolated between the nearest predicted frames, held at the ends, 0 if none at all.
:func:`vafusion.datasets.annotations.parse_va_txt` reads these files back.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vafusion.errors import ConfigError
from vafusion.fileio import atomic_write_text, confined, safe_stem

#: ``--format`` values of ``evaluate`` and ``predict`` that write these files.
FORMAT = "abaw"

#: Subjects with their own file suffix (``main`` has none).
SUBJECT_SUFFIX = {"main": "", "left": "_left", "right": "_right"}


def abaw_name(video: str, subject: str | int = "main") -> str:
    """File stem of one subject's submission: ``video``, ``video_left`` or ``video_right``.

    Raises
    ------
    ConfigError
        For a subject the format has no name for (a face id, ``all``).
    """
    key = str(subject).lower()
    if key not in SUBJECT_SUFFIX:
        raise ConfigError(
            f"the ABAW format names one subject per file (main, left or right), not {subject!r}"
        )
    return f"{video}{SUBJECT_SUFFIX[key]}"


def fill_missing(va: np.ndarray) -> np.ndarray:
    """Fill NaN rows: linear interpolation between predicted frames, ends held, else 0.

    Parameters
    ----------
    va : numpy.ndarray, shape (N, 2)

    Returns
    -------
    numpy.ndarray, shape (N, 2), float64, no NaN, clipped to [-1, 1]
    """
    x = np.asarray(va, dtype=np.float64)
    out = np.zeros_like(x)
    idx = np.arange(len(x))
    for d in range(x.shape[1]):
        ok = np.isfinite(x[:, d])
        if ok.any():
            out[:, d] = np.interp(idx, idx[ok], x[ok, d])
    return np.clip(out, -1.0, 1.0)


def write_abaw(path: str | os.PathLike, va: np.ndarray) -> Path:
    """Write one submission file atomically.

    Parameters
    ----------
    path : path
        Target ``.txt`` file.
    va : numpy.ndarray, shape (N, 2)
        Valence, arousal per decoded frame (NaN rows are filled, see :func:`fill_missing`).

    Returns
    -------
    Path
    """
    v = fill_missing(va)
    lines = "valence,arousal\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in v)
    path = Path(path)
    atomic_write_text(path, lines)
    return path


def write_prediction_abaw(pred, out_dir: str | os.PathLike, stem: str, face: str | int) -> Path:
    """Write a :class:`~vafusion.predict.types.VideoPrediction` of one subject.

    Parameters
    ----------
    pred : VideoPrediction
        With exactly one reported face (``face`` main, left or right).
    out_dir : path
        Folder of the submission files.
    stem : str
        Video name (file stem).
    face : {"main", "left", "right"}

    Returns
    -------
    Path
        ``out_dir/<stem>[_left|_right].txt``.
    """
    name = abaw_name(safe_stem(stem), face)
    if len(pred.faces) != 1:
        raise ConfigError(f"{stem}: the ABAW format needs one subject, got {len(pred.faces)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_abaw(confined(out, f"{name}.txt"), pred.faces[0].va)
