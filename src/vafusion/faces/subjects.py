"""Subject selection over long-form face tables: ``main``, ``left``, ``right``, an id, ``all``.

Long form (what face extractors return)
    One row per decoded frame *per face track present in it* (``face_id`` >= 0); a frame
    with no face has a single row with ``face_id = -1``, ``valid = False`` and NaN values.
    So every decoded frame appears at least once, and ``meta["tracks"]`` holds per-track
    summaries (see :class:`TrackStats`).

Dense form (what training and export use)
    :func:`select_face` returns one row per decoded frame for one subject (``face_valid``
    0 and NaN where that face is absent), or, with ``"all"``, one row per frame per track.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vafusion.errors import ConfigError
from vafusion.features.base import FeatureTable
from vafusion.log import get_logger

log = get_logger("faces")

#: A track shorter than this share of the longest track is ignored by left/right/main.
MIN_TRACK_SHARE = 0.1


@dataclass
class TrackStats:
    """Accumulates per-track summaries from a stream of face observations.

    Use ``add(frame_index, faces)`` for every frame, then :meth:`summaries` for
    ``meta["tracks"]``. Face extractors other than facepose can use it too.
    """

    _n: dict = field(default_factory=dict)
    _area: dict = field(default_factory=dict)
    _cx: dict = field(default_factory=dict)
    _cy: dict = field(default_factory=dict)
    _first: dict = field(default_factory=dict)
    _last: dict = field(default_factory=dict)

    def add(self, frame_index: int, faces) -> None:
        """Record the faces (``FaceObservation`` list) of one frame."""
        for f in faces:
            x0, y0, x1, y1 = (float(v) for v in f.bbox)
            k = int(f.face_id)
            self._n[k] = self._n.get(k, 0) + 1
            self._area[k] = self._area.get(k, 0.0) + (x1 - x0) * (y1 - y0)
            self._cx[k] = self._cx.get(k, 0.0) + 0.5 * (x0 + x1)
            self._cy[k] = self._cy.get(k, 0.0) + 0.5 * (y0 + y1)
            self._first.setdefault(k, int(frame_index))
            self._last[k] = int(frame_index)

    def summaries(self) -> list[dict]:
        """Per-track summaries sorted by id.

        Returns
        -------
        list of dict
            Keys ``face_id, frames, first_frame, last_frame, mean_area`` (px^2),
            ``mean_cx, mean_cy`` (px, original frame).
        """
        out = []
        for k in sorted(self._n):
            n = self._n[k]
            out.append(
                {
                    "face_id": k,
                    "frames": n,
                    "first_frame": self._first[k],
                    "last_frame": self._last[k],
                    "mean_area": self._area[k] / n,
                    "mean_cx": self._cx[k] / n,
                    "mean_cy": self._cy[k] / n,
                }
            )
        return out


def complete_long_form(
    frame: np.ndarray, face_id: np.ndarray, values: np.ndarray, valid: np.ndarray, n_frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Give every frame without a face row one invalid row, then sort by (frame, face_id).

    The long form of every face feature set: rows of tracked faces plus, for each of the
    ``n_frames`` decoded frames that has none, one row with ``face_id = -1``, NaN values and
    ``valid = False``, so no frame is ever dropped.

    Parameters
    ----------
    frame, face_id : numpy.ndarray, shape (R,), int64
    values : numpy.ndarray, shape (R, D), float32
    valid : numpy.ndarray, shape (R,), bool
    n_frames : int

    Returns
    -------
    frame, face_id, values, valid
        Shapes (R + M,), (R + M,), (R + M, D), (R + M,), M = frames without a row.
    """
    frame = np.asarray(frame, dtype=np.int64)
    face_id = np.asarray(face_id, dtype=np.int64)
    values = np.asarray(values, dtype=np.float32)
    n_rows = len(frame)
    seen = np.zeros(max(n_frames, 1), dtype=bool)
    seen[frame[frame < n_frames]] = True
    missing = np.flatnonzero(~seen[:n_frames])
    all_frames = np.concatenate([frame, missing])
    all_ids = np.concatenate([face_id, np.full(len(missing), -1, np.int64)])
    order = np.lexsort((all_ids, all_frames))
    valid = np.concatenate([np.asarray(valid, dtype=bool), np.zeros(len(missing), dtype=bool)])
    # the values (the large part: an hour of 653-column facepose is ~225 MB) are gathered
    # into their one sorted copy block by block; a whole-array fancy index would hold a
    # third copy for a moment
    out = np.empty((len(order), values.shape[1]), np.float32)
    for b0 in range(0, len(order), _GATHER_BLOCK):
        src = order[b0 : b0 + _GATHER_BLOCK]
        dst = out[b0 : b0 + _GATHER_BLOCK]
        is_row = src < n_rows
        dst[is_row] = values[src[is_row]]
        dst[~is_row] = np.nan
    return all_frames[order], all_ids[order], out, valid[order]


#: rows gathered at a time by :func:`complete_long_form`
_GATHER_BLOCK = 8192


def face_table(
    name: str,
    columns: list[str],
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    timestamps: np.ndarray,
    stats: TrackStats,
    path: str,
    meta: dict,
) -> FeatureTable:
    """The long-form table of a face feature set (every set's ``finish`` ends here).

    Parameters
    ----------
    name : str
        Feature-set name.
    columns : list of str, length D
    rows : tuple of numpy.ndarray
        ``frame`` (R,), ``face_id`` (R,), ``values`` (R, D), ``valid`` (R,): the rows of
        tracked faces, in any order.
    timestamps : numpy.ndarray, shape (n_frames,)
        Time of every decoded frame.
    stats : TrackStats
        The pass's track statistics (``meta["tracks"]``).
    path : str
        The video (named in the warning when no face was found).
    meta : dict
        Set-specific metadata (version, config, ...), merged into the common keys
        ``valid_column = "face_valid"``, ``n_frames`` and ``tracks``.

    Returns
    -------
    FeatureTable
        Rows sorted by (frame, face_id); one invalid NaN row (``face_id = -1``) for each
        frame without a face (:func:`complete_long_form`).
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    n = len(ts)
    frame, fid, values, valid = complete_long_form(*rows, n)
    tracks = stats.summaries()
    if not tracks:
        log.warning("%s: no face found in any of its %d frames", path, n)
    return FeatureTable(
        name=name,
        frame=frame,
        timestamp=ts[frame],
        values=values,
        columns=list(columns),
        valid=valid,
        face_id=fid,
        meta={"valid_column": "face_valid", "n_frames": n, "tracks": tracks, **meta},
    )


def _summaries(table: FeatureTable) -> list[dict]:
    tracks = table.meta.get("tracks")
    if tracks is not None:
        return list(tracks)
    # fall back to row counts (no geometry known): left/right then need meta
    ids, counts = np.unique(table.face_id[table.face_id >= 0], return_counts=True)
    return [{"face_id": int(i), "frames": int(c)} for i, c in zip(ids, counts, strict=True)]


def choose_track(table: FeatureTable, how: str | int) -> int | None:
    """The face id that ``how`` designates, or None when the table has no face.

    Parameters
    ----------
    table : FeatureTable
        Long-form face table.
    how : {"main", "left", "right"} or int
        ``main``: the track with the largest total face area over time (frames present
        x mean area; frames present alone when areas are unknown). ``left`` / ``right``:
        the track whose mean centre is left-most / right-most in the image. Tracks shorter
        than 10 % of the longest are ignored by all three.

    Raises
    ------
    ConfigError
        For an unknown ``how`` or an id absent from the table.
    """
    tracks = _summaries(table)
    if isinstance(how, (int, np.integer)) and not isinstance(how, bool):
        known = {t["face_id"] for t in tracks}
        if int(how) not in known:
            raise ConfigError(f"face id {how} not in this video (known: {sorted(known) or 'none'})")
        return int(how)
    if not tracks:
        return None
    longest = max(t["frames"] for t in tracks)
    cands = [t for t in tracks if t["frames"] >= MIN_TRACK_SHARE * longest]
    if how == "main":
        best = max(cands, key=lambda t: (t["frames"] * t.get("mean_area", 1.0), -t["face_id"]))
    elif how in ("left", "right"):
        if any("mean_cx" not in t for t in cands):
            raise ConfigError("left/right selection needs meta['tracks'] with mean_cx")
        sign = 1.0 if how == "left" else -1.0
        best = min(cands, key=lambda t: (sign * t["mean_cx"], t["face_id"]))
    else:
        raise ConfigError(f"face selection must be main, left, right, all or an id, not {how!r}")
    return int(best["face_id"])


def _frame_axis(
    table: FeatureTable, n_frames: int | None, timestamps: np.ndarray | None
) -> tuple[int, np.ndarray]:
    if timestamps is not None:
        ts = np.asarray(timestamps, dtype=np.float64)
        return len(ts), ts
    n = int(n_frames if n_frames is not None else table.meta.get("n_frames", 0))
    if n <= 0 and table.n_rows:
        n = int(table.frame.max()) + 1
    ts = np.full(n, np.nan)
    ts[table.frame] = table.timestamp
    if np.isnan(ts).any():
        raise ConfigError("timestamps missing for some frames: pass timestamps=")
    return n, ts


def _dense_for(table: FeatureTable, face_id: int | None, n: int, ts: np.ndarray) -> FeatureTable:
    values = np.full((n, table.dim), np.nan, dtype=np.float32)
    valid = np.zeros(n, dtype=bool)
    fid = np.full(n, -1, dtype=np.int64)
    if face_id is not None:
        rows = np.flatnonzero(table.face_id == face_id)
        frames = table.frame[rows]
        values[frames] = table.values[rows]
        valid[frames] = table.valid[rows]
        fid[frames] = face_id
    meta = dict(table.meta)
    meta["selected_face"] = face_id
    return FeatureTable(
        name=table.name,
        frame=np.arange(n),
        timestamp=ts,
        values=values,
        columns=list(table.columns),
        valid=valid,
        face_id=fid,
        meta=meta,
    )


def select_face(
    table: FeatureTable,
    n_frames: int | None = None,
    timestamps: np.ndarray | None = None,
    how: str | int = "main",
) -> FeatureTable:
    """Dense per-frame table of one subject (or of every track with ``"all"``).

    Parameters
    ----------
    table : FeatureTable
        Long-form face table (any face extractor's output, see the module docstring).
    n_frames : int, optional
        Number of decoded frames; default ``table.meta["n_frames"]``.
    timestamps : numpy.ndarray, shape (n_frames,), optional
        Frame times; default taken from the table (every frame has at least one row).
    how : {"main", "left", "right", "all"} or int
        See :func:`choose_track`. ``"all"``: one row per frame per track, ordered by
        frame then ``face_id``.

    Returns
    -------
    FeatureTable
        ``n_frames`` rows (``n_frames * n_tracks`` for ``"all"``, at least ``n_frames``).
        Rows where the face is absent have ``valid = False`` and NaN values; their
        ``face_id`` is -1, except with ``"all"`` where every row keeps its track's id.
        ``meta["selected_face"]`` records the chosen id (``"all"`` or None: no face).
    """
    if table.face_id is None:
        raise ConfigError(f"table {table.name!r} has no face_id: not a face table")
    n, ts = _frame_axis(table, n_frames, timestamps)
    if how == "all":
        ids = [t["face_id"] for t in _summaries(table)]
        if not ids:
            return _dense_for(table, None, n, ts)
        parts = [_dense_for(table, i, n, ts) for i in ids]
        order = np.lexsort((np.repeat(np.arange(len(ids)), n), np.tile(np.arange(n), len(ids))))
        fid = np.repeat(np.asarray(ids, dtype=np.int64), n)
        meta = dict(table.meta)
        meta["selected_face"] = "all"
        return FeatureTable(
            name=table.name,
            frame=np.tile(np.arange(n), len(ids))[order],
            timestamp=np.tile(ts, len(ids))[order],
            values=np.concatenate([p.values for p in parts])[order],
            columns=list(table.columns),
            valid=np.concatenate([p.valid for p in parts])[order],
            face_id=fid[order],
            meta=meta,
        )
    face_id = choose_track(table, how)
    if face_id is None:
        log.warning("%s: no face in this video; every row is invalid", table.name)
    return _dense_for(table, face_id, n, ts)


def per_frame_frame(
    tables: Mapping[str, FeatureTable], n_frames: int, timestamps: np.ndarray, how: str | int
):
    """Feature tables of one video side by side, one row per decoded frame.

    Per-frame tables are used as they are; long-form face tables are reduced to one subject
    with :func:`select_face` (``how``: ``"main"``, ``"left"``, ``"right"`` or a track id).

    Parameters
    ----------
    tables : mapping of str to FeatureTable
        Set name -> table (names starting with ``_`` are skipped).
    n_frames : int
    timestamps : numpy.ndarray, shape (n_frames,)
    how : str or int

    Returns
    -------
    pandas.DataFrame
        ``n_frames`` rows: ``frame, timestamp``, then per table its validity column
        (``<name>_valid`` when two share a name) and its columns; NaN where invalid.

    Raises
    ------
    ConfigError
        A per-frame table does not have one row per decoded frame.
    """
    import pandas as pd

    ts = np.asarray(timestamps, dtype=np.float64)
    parts = [pd.DataFrame({"frame": np.arange(n_frames, dtype=np.int64), "timestamp": ts})]
    used = {"frame", "timestamp"}
    for name, table in tables.items():
        if name.startswith("_"):
            continue
        if table.face_id is None:
            if table.n_rows != n_frames or not np.array_equal(table.frame, np.arange(n_frames)):
                raise ConfigError(
                    f"{name!r} has {table.n_rows} rows for {n_frames} decoded frames "
                    "(not per-frame)"
                )
            dense = table
        else:
            dense = select_face(table, n_frames, ts, how)
        vcol = dense.valid_column if dense.valid_column not in used else f"{name}_valid"
        used.add(vcol)
        part = pd.DataFrame(dense.values, columns=dense.columns)
        part.insert(0, vcol, dense.valid.astype(np.int8))
        parts.append(part)
    return pd.concat(parts, axis=1)
