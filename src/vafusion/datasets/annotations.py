"""Strict parsers of per-frame valence/arousal annotation files.

Every problem is an :class:`~vafusion.errors.AnnotationError` naming the file and the
1-based line number, never a silent NaN or a numpy traceback.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from vafusion.errors import AnnotationError

#: Aff-Wild2's marker of a frame without a valid annotation
INVALID = -5.0
_TOL = 1e-6


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AnnotationError("annotation file not found", path) from None
    except OSError as exc:
        raise AnnotationError(f"cannot read: {exc.strerror}", path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnnotationError("not a text file (not UTF-8)", path) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    if not lines:
        raise AnnotationError("empty annotation file", path)
    return lines


def _value(cell: str, what: str, path: Path, lineno: int, allow_empty: bool) -> float:
    cell = cell.strip()
    if cell == "" and allow_empty:
        return math.nan
    try:
        v = float(cell)
    except ValueError:
        raise AnnotationError(f"line {lineno}: {what} {cell!r} is not a number", path) from None
    if not math.isfinite(v):
        raise AnnotationError(f"line {lineno}: {what} {cell!r} is not finite", path)
    if abs(v - INVALID) < _TOL:
        return math.nan
    if not -1.0 - _TOL <= v <= 1.0 + _TOL:
        raise AnnotationError(
            f"line {lineno}: {what} {v:g} is outside [-1, 1] (and is not the invalid marker -5)",
            path,
        )
    return v


def _fast_parse(lines: list[str]) -> np.ndarray | None:
    """Vectorised parse of well-formed files; None if anything is off (slow path reports)."""
    try:
        data = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        return None
    if data.shape != (len(lines), 2) or not np.isfinite(data).all():
        return None
    invalid = np.abs(data - INVALID) < _TOL
    if (np.abs(data[~invalid]) > 1.0 + _TOL).any():
        return None
    data[invalid] = np.nan
    return data.astype(np.float32)


def parse_va_txt(path: str | os.PathLike) -> np.ndarray:
    """Parse an Aff-Wild2 VA annotation file.

    Format: first line ``valence,arousal``, then one ``v,a`` line per video frame, values
    in [-1, 1]; -5 marks a frame without a valid annotation.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    numpy.ndarray, shape (N, 2), float32
        Valence, arousal per frame; NaN where the file has -5.

    Raises
    ------
    AnnotationError
        Empty file, missing/wrong header, a line without exactly two numbers, a blank line
        inside the data, a value outside [-1, 1] other than -5, or no data line.
    """
    path = Path(path)
    lines = _read_lines(path)
    header = [c.strip().lower() for c in lines[0].split(",")]
    if header != ["valence", "arousal"]:
        raise AnnotationError(
            f"line 1: expected the header 'valence,arousal', got {lines[0].strip()[:40]!r}", path
        )
    if len(lines) == 1:
        raise AnnotationError("no annotation lines after the header", path)
    fast = _fast_parse(lines[1:])
    if fast is not None:
        return fast
    out = np.empty((len(lines) - 1, 2), dtype=np.float32)
    for i, line in enumerate(lines[1:]):
        lineno = i + 2
        cells = line.split(",")
        if len(cells) != 2:
            what = "empty line" if not line.strip() else f"{len(cells)} values"
            raise AnnotationError(f"line {lineno}: expected 'valence,arousal', got {what}", path)
        out[i, 0] = _value(cells[0], "valence", path, lineno, False)
        out[i, 1] = _value(cells[1], "arousal", path, lineno, False)
    return out


def parse_va_csv(path: str | os.PathLike, n_frames: int | None = None) -> np.ndarray:
    """Parse a generic per-video annotation CSV with columns ``frame,valence,arousal``.

    ``frame`` is the 0-based decoded frame index; frames may be missing (NaN labels) but not
    repeated. Empty cells and -5 mean "not annotated". Extra columns are ignored.

    Parameters
    ----------
    path : str or PathLike
    n_frames : int, optional
        Length of the output; default ``max(frame) + 1``.

    Returns
    -------
    numpy.ndarray, shape (N, 2), float32
    """
    path = Path(path)
    lines = _read_lines(path)
    header = [c.strip().lower() for c in lines[0].split(",")]
    missing = [c for c in ("frame", "valence", "arousal") if c not in header]
    if missing:
        raise AnnotationError(
            f"line 1: header lacks column(s) {', '.join(missing)} (need frame,valence,arousal)",
            path,
        )
    fi, vi, ai = (header.index(c) for c in ("frame", "valence", "arousal"))
    frames: list[int] = []
    vals: list[tuple[float, float]] = []
    seen: set[int] = set()
    for i, line in enumerate(lines[1:]):
        lineno = i + 2
        cells = line.split(",")
        if len(cells) != len(header):
            raise AnnotationError(
                f"line {lineno}: {len(cells)} cells, header has {len(header)}", path
            )
        try:
            f = int(cells[fi].strip())
        except ValueError:
            raise AnnotationError(
                f"line {lineno}: frame {cells[fi].strip()!r} is not an integer", path
            ) from None
        if f < 0:
            raise AnnotationError(f"line {lineno}: negative frame index {f}", path)
        if f in seen:
            raise AnnotationError(f"line {lineno}: frame {f} is repeated", path)
        seen.add(f)
        frames.append(f)
        vals.append(
            (
                _value(cells[vi], "valence", path, lineno, True),
                _value(cells[ai], "arousal", path, lineno, True),
            )
        )
    if not frames:
        raise AnnotationError("no annotation lines after the header", path)
    n = max(frames) + 1 if n_frames is None else n_frames
    out = np.full((n, 2), np.nan, dtype=np.float32)
    idx = np.asarray(frames)
    keep = idx < n
    out[idx[keep]] = np.asarray(vals, dtype=np.float32)[keep]
    return out


def read_name_list(path: str | os.PathLike) -> list[str]:
    """Names listed one per line (Aff-Wild2 test-set lists); blank lines and ``#`` skipped."""
    path = Path(path)
    names = []
    for i, line in enumerate(_read_lines(path)):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "," in s or " " in s:
            raise AnnotationError(f"line {i + 1}: expected one name per line, got {s!r}", path)
        names.append(Path(s).stem if s.endswith((".txt", ".mp4", ".avi")) else s)
    return names
