"""Adapter from the dataset layouts and the feature store to :class:`VideoData`.

For each annotated entry (``vafusion.datasets``) and modality, the store's feature values
are seen per frame through a :class:`~vafusion.data.frame_rows.FrameRows` row index over a
:class:`~vafusion.data.mapcache.MappedArray` (no copy of the features, and no file held
open: reads go through one bounded cache of memory maps, see docs/store.md): long-form
face tables are reduced to the entry's subject (``main`` / ``left`` / ``right``, the track
:func:`vafusion.faces.subjects.choose_track` picks, exactly what
:func:`~vafusion.faces.subjects.select_face` densifies), per-frame tables are indexed by
frame; frames without a row are invalid.
Labels are aligned to the decoded frame count by frame index with the dataset's tolerance
(:func:`vafusion.datasets.align_labels`), refusing large mismatches.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from vafusion.data.frame_rows import FrameRows
from vafusion.data.mapcache import MappedArray
from vafusion.data.sequences import FeatureSpec, VideoData
from vafusion.errors import StoreError
from vafusion.features.base import FeatureTable
from vafusion.log import get_logger

log = get_logger("data")

#: Accepted spellings of split names -> the datasets module's canonical names.
SPLIT_ALIASES = {
    "validation": "val",
    "valid": "val",
    "val": "val",
    "training": "train",
    "train": "train",
    "test": "test",
}


def canonical_split(split: str) -> str:
    """``"validation"`` -> ``"val"`` etc. (unknown names are returned unchanged)."""
    return SPLIT_ALIASES.get(split.lower(), split)


def dense_table(table: FeatureTable, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Place a per-frame table's rows by frame index.

    Returns
    -------
    values : numpy.ndarray, shape (n_frames, D), float32
        NaN where the table has no valid row.
    valid : numpy.ndarray, shape (n_frames,), bool
    """
    values = np.full((n_frames, table.dim), np.nan, dtype=np.float32)
    valid = np.zeros(n_frames, dtype=bool)
    frame = np.asarray(table.frame)
    ok = (frame >= 0) & (frame < n_frames) & np.asarray(table.valid)
    values[frame[ok]] = np.asarray(table.values)[ok]
    valid[frame[ok]] = True
    return values, valid


def frame_timestamps(tables: dict[str, FeatureTable], n: int) -> np.ndarray | None:
    """Frame times from any table that has a row for every frame.

    Parameters
    ----------
    tables : dict of str to FeatureTable
        Tables of one video (per-frame or long-form).
    n : int
        Decoded frames.

    Returns
    -------
    numpy.ndarray, shape (n,), float64, or None
        A copy (never a view of a memory map); None when no table covers every frame.
    """
    for tab in tables.values():
        if tab.face_id is None and tab.n_rows == n and np.array_equal(tab.frame, np.arange(n)):
            return np.array(tab.timestamp, dtype=np.float64)
    for tab in tables.values():
        ts = np.full(n, np.nan)
        ok = (tab.frame >= 0) & (tab.frame < n)
        ts[tab.frame[ok]] = tab.timestamp[ok]
        if not np.isnan(ts).any():
            return ts
    return None


def frame_rows(
    table: FeatureTable, n_frames: int, subject: str | int = "main"
) -> tuple[FrameRows, np.ndarray]:
    """Per-frame view of a store table for one subject, without copying its values.

    Parameters
    ----------
    table : FeatureTable
        Per-frame table, or long-form face table (with ``face_id``); ``values`` may be a
        memmap (it is kept, not read).
    n_frames : int
        Decoded frames of the video.
    subject : {"main", "left", "right"} or int
        Face track of a long-form table (:func:`vafusion.faces.subjects.choose_track`).

    Returns
    -------
    rows : FrameRows
        Shape (n_frames, D); frame ``i`` is ``table.values[rows.rows[i]]``. Equal, as a
        dense array, to :func:`dense_table` (per-frame) or
        :func:`vafusion.faces.subjects.select_face` (face tables) on the valid frames.
    valid : numpy.ndarray, shape (n_frames,), bool
    """
    frame = np.asarray(table.frame, dtype=np.int64)
    tvalid = np.asarray(table.valid, dtype=bool)
    rows = np.full(n_frames, -1, dtype=np.int64)
    valid = np.zeros(n_frames, dtype=bool)
    if table.face_id is None:
        sel = np.flatnonzero((frame >= 0) & (frame < n_frames) & tvalid)
        rows[frame[sel]] = sel
        valid[frame[sel]] = True
    else:
        from vafusion.faces.subjects import choose_track

        fid = choose_track(table, subject)
        if fid is None:
            log.warning("%s: no face in this video; every row is invalid", table.name)
        else:
            sel = np.flatnonzero(np.asarray(table.face_id) == fid)
            sel = sel[(frame[sel] >= 0) & (frame[sel] < n_frames)]
            rows[frame[sel]] = sel
            valid[frame[sel]] = tvalid[sel]
    return FrameRows(table.values, rows), valid


def store_video(
    store, video: str, feature_sets: dict[str, str], *, subject: str | int = "main"
) -> tuple[VideoData, dict[str, list[str]]]:
    """One video's features from a feature store, as an unlabelled :class:`VideoData`.

    The values are not read: each modality is a :class:`FrameRows` view over a
    :class:`~vafusion.data.mapcache.MappedArray`, read later through the bounded map cache,
    so no file stays open however many videos are loaded. Frame indices, validity and
    timestamps (``8-17 B`` per frame) are copied into memory.

    Parameters
    ----------
    store : vafusion.store.FeatureStore
    video : str
        Store key (file stem).
    feature_sets : dict of str to str
        Modality -> feature-set name.
    subject : {"main", "left", "right"} or int
        Face track of long-form face tables.

    Returns
    -------
    video : VideoData
        Named ``video``, no labels; ``timestamps`` from the tables (or the recorded fps).
    columns : dict of str to list of str
        Column names per modality.

    Raises
    ------
    StoreError
        The video lacks a requested feature set, or an array is unreadable.
    """
    tables: dict[str, FeatureTable] = {}
    for mod, fs in feature_sets.items():
        if not store.has(video, fs):
            raise StoreError(
                f"video {video!r} has no {fs!r} features (run vafusion extract)", store.root
            )
        tables[mod] = store.get(video, fs, mmap=True)
    info = store.video_info(video) or {}
    n_frames = info.get("n_frames")
    if not n_frames:
        n_frames = max(int(np.max(t.frame)) + 1 if t.n_rows else 0 for t in tables.values())
    n_frames = int(n_frames)
    feats, valid, columns = {}, {}, {}
    for mod, table in tables.items():
        columns[mod] = list(table.columns)
        view, valid[mod] = frame_rows(table, n_frames, subject)
        entry_dir = Path(store.entry(video, feature_sets[mod]).path)
        feats[mod] = FrameRows(MappedArray(entry_dir / "values.npy", view.values.shape), view.rows)
    timestamps = frame_timestamps(tables, n_frames)
    if timestamps is None and info.get("fps"):
        timestamps = np.arange(n_frames, dtype=np.float64) / float(info["fps"])
    tables.clear()  # drops this video's memory maps (and their file descriptors)
    vd = VideoData(
        video, n_frames, feats, valid, None, video=video, subject=str(subject),
        timestamps=timestamps,
    )  # fmt: skip
    return vd, columns


def load_split(
    data_root: str | os.PathLike,
    store_root: str | os.PathLike,
    split: str,
    feature_sets: dict[str, str],
    *,
    mismatch_frames: int = 5,
    mismatch_fraction: float = 0.01,
    dataset=None,
) -> tuple[list[VideoData], FeatureSpec]:
    """Load every entry of one split with the given modalities.

    Parameters
    ----------
    data_root : path
        Dataset root (any layout :func:`vafusion.datasets.load_dataset` detects).
    store_root : path
        Feature store.
    split : str
        ``train``, ``val`` / ``validation`` or ``test``.
    feature_sets : dict of str to str
        Modality -> feature-store set name.
    dataset : vafusion.datasets.Dataset, optional
        Already loaded dataset (avoids re-reading annotations).

    Returns
    -------
    videos : list of VideoData
    spec : FeatureSpec
        Dimensions and columns found in the store.

    An annotation without a video (no video file found and no features in the store; what
    ``vafusion datasets check`` reports as ``no-video``) is skipped with a warning.

    Raises
    ------
    StoreError
        A video lacks a requested feature set, or columns differ between videos.
    AnnotationError
        Annotation rows and decoded frames differ beyond the tolerance.
    """
    from vafusion.datasets import Tolerance, align_labels, load_dataset
    from vafusion.store import FeatureStore

    split = canonical_split(split)
    ds = dataset if dataset is not None else load_dataset(data_root)
    store = FeatureStore(store_root, create=False)
    tol = Tolerance(mismatch_frames, mismatch_fraction)
    videos: list[VideoData] = []
    columns: dict[str, list[str]] = {}
    for entry in ds.entries(split):
        if entry.video_path is None and not any(
            store.has(entry.video, fs) for fs in feature_sets.values()
        ):  # what 'vafusion datasets check' reports as "no-video": skipped by both
            log.warning(
                "%s: annotation without a video (no video file, no features in the store): "
                "skipped", entry.annotation_path or entry.name,
            )  # fmt: skip
            continue
        v, cols = store_video(store, entry.video, feature_sets, subject=entry.subject)
        for mod, c in cols.items():
            if columns.setdefault(mod, c) != c:
                raise StoreError(
                    f"video {entry.video!r}: {feature_sets[mod]!r} columns differ from other "
                    "videos (mixed extractor configs?)",
                    store_root,
                )
        labels = None
        if entry.labels is not None:
            labels = align_labels(entry.labels, v.n_frames, tol, name=entry.annotation_path)
        videos.append(replace(v, name=entry.name, split=split, labels=labels))
    spec = FeatureSpec(
        dims={m: len(c) for m, c in columns.items()},
        columns=columns,
        feature_sets=dict(feature_sets),
    )
    return videos, spec


#: Extractor settings that only write side outputs (not part of the config hash): dropped
#: from the recorded configs so that predicting never writes files the user did not ask for.
OUTPUT_ONLY_KEYS = ("aligned_dir",)


def feature_configs(
    store_root: str | os.PathLike, videos: list[VideoData], feature_sets: dict[str, str]
) -> dict[str, dict]:
    """Provenance of the features a model is trained on, for its checkpoint.

    For each feature set, the store entries the videos were read from must share one
    extractor config (hash); their recorded config is returned so that ``vafusion predict
    --model`` can build the same extractors.

    Parameters
    ----------
    store_root : path
        Feature store the videos were loaded from (:func:`load_split`).
    videos : list of VideoData
        Loaded videos (``video`` = store key, ``subject`` = face selected).
    feature_sets : dict of str to str
        Modality -> feature-set name.

    Returns
    -------
    dict of str to dict
        ``{set: {"config": dict, "pipeline": dict (the whole
        :class:`~vafusion.extraction.PipelineConfig`, None in older stores), "config_hash":
        str (the store key), "version": str, "dim": int,
        "long_form": bool, "face_selection": {"method": "choose_track", "subjects":
        [..]} or None}}``. ``config`` is None when the store did not record it.

    Raises
    ------
    StoreError
        The videos' entries of one feature set come from different extractor configs.
    """
    from vafusion.store import FeatureStore

    store = FeatureStore(store_root, create=False)
    out: dict[str, dict] = {}
    for fs in dict.fromkeys(feature_sets.values()):
        seen: dict[str, str] = {}
        doc: dict = {}
        subjects: set[str] = set()
        for v in videos:
            key = v.video or v.name
            doc = store.entry_meta(key, fs)
            seen.setdefault(str(doc["extractor_hash"]), key)
            subjects.add(str(v.subject))
        if len(seen) > 1:
            pairs = ", ".join(f"{h} ({k})" for h, k in seen.items())
            raise StoreError(
                f"{fs!r} features come from different extractor configs: {pairs}; "
                "re-extract them with one config",
                store_root,
            )
        if not seen:
            continue
        config = doc.get("config")
        if isinstance(config, dict):
            config = {k: v for k, v in config.items() if k not in OUTPUT_ONLY_KEYS}
        long_form = "face_id" in doc.get("arrays", {})
        out[fs] = {
            "config": config,
            "pipeline": (doc.get("meta") or {}).get("pipeline"),
            "config_hash": next(iter(seen)),
            "version": str(doc.get("version", "")),
            "dim": int(doc.get("dim", 0)),
            "long_form": long_form,
            "face_selection": (
                {"method": "choose_track", "subjects": sorted(subjects)} if long_form else None
            ),
        }
    return out
