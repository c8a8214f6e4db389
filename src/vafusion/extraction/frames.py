"""Feature tables of one pass as one time-indexed DataFrame (the front door's convention).

One row per decoded frame, indexed by ``time`` (seconds on the video time axis), columns
``frame``, then per set its validity column (``audio_valid``, ``face_valid``, ...) and its
features. Face sets (long form) are reduced to one subject with
:func:`vafusion.faces.subjects.select_face`: NaN rows, validity 0, where that face is not
seen. Never a dropped row, never a zero standing for a missing value.
"""

from __future__ import annotations

import numpy as np

from vafusion.extraction.pipeline import VideoFeatures
from vafusion.faces.subjects import select_face


def to_frame(result: VideoFeatures, face: str | int = "main"):
    """One time-indexed DataFrame of every set of ``result``.

    Parameters
    ----------
    result : VideoFeatures
        What :meth:`vafusion.extraction.Pipeline.process` returned.
    face : {"main", "left", "right"} or int
        The subject of face sets (see :func:`vafusion.faces.subjects.choose_track`).

    Returns
    -------
    pandas.DataFrame
        ``n_frames`` rows, index ``time`` (float64 seconds), columns ``frame``, then
        ``<valid column>, <set columns>...`` per set in the pipeline's order.
    """
    import pandas as pd

    n = result.info.n_frames
    ts = np.asarray(result.timestamps, dtype=np.float64)
    parts = [pd.DataFrame({"frame": np.arange(n, dtype=np.int64)})]
    used = {"frame"}
    for name, table in result.tables.items():
        if name.startswith("_"):
            continue  # extra accumulators (e.g. predict's face boxes)
        dense = table if table.face_id is None else select_face(table, n, ts, face)
        vcol = dense.valid_column if dense.valid_column not in used else f"{name}_valid"
        used.add(vcol)
        part = pd.DataFrame(dense.values, columns=dense.columns)
        part.insert(0, vcol, dense.valid.astype(np.int8))
        parts.append(part)
    df = pd.concat(parts, axis=1)
    df.index = pd.Index(ts, name="time")
    return df
