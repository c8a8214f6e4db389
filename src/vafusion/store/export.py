"""One row per decoded frame: the feature sets of one video side by side (``vafusion export``).

Columns: ``frame`` (0-based decoded frame index), ``timestamp`` (seconds), then for each
feature set its validity column (``audio_valid``, ``face_valid``, ...) and its feature
columns (``audio_mfcc_0..39``, ``audio_mel_0..127``, ...).

Face feature sets are stored in long form (one row per frame per face track); they are
reduced to one face per frame with :func:`vafusion.faces.subjects.select_face` (``face=
"main"``, ``"left"``, ``"right"`` or a track id). ``face="all"`` instead keeps every track:
one row per frame per face with a ``face_id`` column (per-frame sets repeated on each row).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vafusion.errors import ConfigError, StoreError
from vafusion.faces.subjects import per_frame_frame, select_face
from vafusion.features.base import FeatureTable
from vafusion.fileio import atomic_path
from vafusion.store.feature_store import FeatureStore

#: order in which feature sets appear when not given
_PREFERRED = ("audio", "expression", "facepose")


def _order(sets: list[str]) -> list[str]:
    return sorted(sets, key=lambda s: (_PREFERRED.index(s) if s in _PREFERRED else 99, s))


def _frame_axis(tables: dict[str, FeatureTable], info: dict | None) -> tuple[int, np.ndarray]:
    n = int(info["n_frames"]) if info and info.get("n_frames") else None
    if n is None:
        n = max(int(t.frame.max()) + 1 if t.n_rows else 0 for t in tables.values())
    ts = np.full(n, np.nan)
    for t in tables.values():
        keep = (t.frame >= 0) & (t.frame < n)
        ts[t.frame[keep]] = t.timestamp[keep]
        if not np.isnan(ts).any():
            break
    return n, ts


def _dense(table: FeatureTable, n: int, ts: np.ndarray, face: str | int) -> FeatureTable:
    if table.face_id is None:
        if table.n_rows != n or not np.array_equal(table.frame, np.arange(n)):
            raise StoreError(
                f"{table.name!r} has {table.n_rows} rows for {n} decoded frames (not per-frame)"
            )
        return table
    return select_face(table, n, ts, _how(face))


def _how(face: str | int) -> str | int:
    return int(face) if isinstance(face, str) and face.isdigit() else face


def dense_features(
    store: FeatureStore | str | os.PathLike,
    video: str,
    feature_set: str,
    *,
    face: str | int = "main",
    extractor_hash: str | None = None,
) -> FeatureTable:
    """One feature set of one video as a dense per-frame table (one row per decoded frame).

    Per-frame sets are returned as stored; long-form face sets are reduced to the face
    ``face`` (``"main"``, ``"left"``, ``"right"`` or a track id) with
    :func:`vafusion.faces.subjects.select_face`, NaN / ``valid=False`` where absent.

    Returns
    -------
    FeatureTable
        ``values`` shape (n_frames, D) float32, ``frame == arange(n_frames)``.
    """
    if not isinstance(store, FeatureStore):
        store = FeatureStore(store, create=False)
    table = store.get(video, feature_set, extractor_hash)
    n, ts = _frame_axis({feature_set: table}, store.video_info(video))
    return _dense(table, n, ts, face)


def frame_table(
    store: FeatureStore | str | os.PathLike,
    video: str,
    features: list[str] | str | None = None,
    *,
    face: str | int = "main",
    hashes: dict[str, str] | None = None,
):
    """Build the per-frame DataFrame of one video.

    Parameters
    ----------
    store : FeatureStore or path
    video : str
        Video name (stem).
    features : list of str or comma-separated str, optional
        Feature sets to include (default: all stored for the video).
    face : {"main", "left", "right", "all"} or int
        Face selection for long-form face tables.
    hashes : dict, optional
        ``{feature_set: extractor_hash}`` when several configs are stored.

    Returns
    -------
    pandas.DataFrame
        One row per decoded frame (``face="all"``: per frame per face), columns
        ``frame, timestamp, [face_id,] <set>_valid, <set columns>...``.
    """
    import pandas as pd

    if not isinstance(store, FeatureStore):
        store = FeatureStore(store, create=False)
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    stored = store.feature_sets_of(video)
    if not stored:
        failure = store.failures().get(video)
        why = f" (extraction failed: {failure})" if failure else ""
        raise StoreError(f"no features for video {video!r}{why}", store.root)
    sets = list(features) if features else _order(stored)
    missing = [s for s in sets if s not in stored]
    if missing:
        raise StoreError(
            f"video {video!r} has no {', '.join(missing)} features (stored: {', '.join(stored)})",
            store.root,
        )
    hashes = hashes or {}
    tables = {s: store.get(video, s, hashes.get(s)) for s in sets}
    n, ts = _frame_axis(tables, store.video_info(video))
    face_str = str(face)
    if face_str == "all":
        longs = [t for t in tables.values() if t.face_id is not None]
        if longs:
            base = pd.DataFrame({"frame": longs[0].frame, "face_id": longs[0].face_id})
        else:
            base = pd.DataFrame({"frame": np.arange(n), "face_id": -1})
        base["timestamp"] = ts[base["frame"].to_numpy()]
        df = base[["frame", "timestamp", "face_id"]]
        for t in tables.values():
            part = t.to_pandas().drop(columns=["timestamp"])
            keys = ["frame", "face_id"] if t.face_id is not None else ["frame"]
            part = _rename_valid(part, t, df.columns)
            df = df.merge(part, on=keys, how="left")
        return df.reset_index(drop=True)
    try:
        return per_frame_frame(tables, n, ts, _how(face))
    except ConfigError as exc:
        raise StoreError(exc.message, store.root) from None


def _rename_valid(part, table: FeatureTable, existing) -> object:
    v = table.valid_column
    if v in existing:
        part = part.rename(columns={v: f"{table.name}_valid"})
    return part


def export_video(
    store: FeatureStore | str | os.PathLike,
    video: str,
    out: str | os.PathLike,
    features: list[str] | str | None = None,
    *,
    face: str | int = "main",
    hashes: dict[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write :func:`frame_table` to ``out`` (``.csv`` or ``.parquet``, chosen by suffix).

    Parameters
    ----------
    overwrite : bool, default False
        Replace an existing ``out``; without it an existing file is an error.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise StoreError("output must end in .csv or .parquet", out)
    if out.is_dir():
        raise StoreError("is a folder; give a file name ending in .csv or .parquet", out)
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise StoreError("exists already (--force replaces it)", out)
    df = frame_table(store, video, features, face=face, hashes=hashes)
    try:
        with atomic_path(out) as tmp:
            if suffix == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    except OSError as exc:
        raise StoreError(f"cannot write: {exc.strerror}", out) from None
    return out
