"""Cheap integrity check of a feature-store entry (headers and sizes, no data read).

An entry folder is *complete* when its ``entry.json`` parses and every array it lists is
an ``.npy`` file whose header gives the recorded shape and dtype and whose size is exactly
header + data (a truncated copy, a deleted file or a reshaped array is damaged). Resume
(``vafusion extract``) re-extracts damaged entries; ``vafusion store info`` lists them.
Reading costs one ``entry.json`` parse plus one ``stat`` and a 128-byte header read per
array, whatever the entry's size.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

ENTRY_JSON = "entry.json"
#: keys an ``entry.json`` must have for the entry to be read
_REQUIRED = ("video", "feature_set", "extractor_hash", "version", "n_rows", "dim", "arrays")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` from an ``.npy`` header (raises ValueError/OSError)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return tuple(shape), np.dtype(dtype), fh.tell()


def entry_problem(path: str | os.PathLike) -> str | None:
    """Why the entry folder ``path`` is damaged, in one line, or None if it is complete.

    Parameters
    ----------
    path : str or PathLike
        An entry folder (``data/<video>/<feature_set>/<hash>-v<version>``).

    Returns
    -------
    str or None
        e.g. ``"values.npy is missing"``, ``"values.npy is truncated (1200 of 322688
        bytes)"``, ``"values.npy has shape (10, 168), entry.json says (472, 168)"``,
        ``"corrupt entry.json (...)"``.
    """
    path = Path(path)
    try:
        doc = json.loads((path / ENTRY_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "entry.json is missing"
    except (OSError, ValueError) as exc:
        return f"corrupt entry.json ({' '.join(str(exc).split())})"
    if not isinstance(doc, dict) or any(k not in doc for k in _REQUIRED):
        return "corrupt entry.json (required keys missing)"
    try:
        arrays = {k: (tuple(v["shape"]), np.dtype(v["dtype"])) for k, v in doc["arrays"].items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        return "corrupt entry.json (bad 'arrays' record)"
    if "values" not in arrays or arrays["values"][0] != (doc["n_rows"], doc["dim"]):
        return "corrupt entry.json (values shape does not match n_rows x dim)"
    for name, (shape, dtype) in arrays.items():
        problem = _array_problem(path / f"{name}.npy", shape, dtype)
        if problem:
            return problem
    return None


def _array_problem(file: Path, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    try:
        size = file.stat().st_size
        got_shape, got_dtype, offset = _npy_header(file)
    except FileNotFoundError:
        return f"{file.name} is missing"
    except (OSError, ValueError, SyntaxError) as exc:
        return f"{file.name} is not a readable .npy file ({' '.join(str(exc).split())})"
    if got_shape != shape or got_dtype != dtype:
        return f"{file.name} has shape {got_shape} {got_dtype}, entry.json says {shape} {dtype}"
    expected = offset + math.prod(shape) * dtype.itemsize
    if size != expected:
        kind = "truncated" if size < expected else "too long"
        return f"{file.name} is {kind} ({size} of {expected} bytes)"
    return None
