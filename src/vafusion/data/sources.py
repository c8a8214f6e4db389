"""Adapter from the dataset layouts and the feature store to :class:`VideoData`.

For each annotated entry (``vafusion.datasets``) and modality, the store's feature table is
read (memory-mapped), long-form face tables are reduced to the entry's subject with
:func:`vafusion.faces.subjects.select_face` (``main`` / ``left`` / ``right``), and the rows
are placed by frame index into a dense ``(n_frames, D)`` array (missing frames invalid).
Labels are aligned to the decoded frame count by frame index with the dataset's tolerance
(:func:`vafusion.datasets.align_labels`), refusing large mismatches.
"""

from __future__ import annotations

import os

import numpy as np

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

    Raises
    ------
    StoreError
        A video lacks a requested feature set, or columns differ between videos.
    AnnotationError
        Annotation rows and decoded frames differ beyond the tolerance.
    """
    from vafusion.datasets import Tolerance, align_labels, load_dataset
    from vafusion.faces.subjects import select_face
    from vafusion.store import FeatureStore

    split = canonical_split(split)
    ds = dataset if dataset is not None else load_dataset(data_root)
    store = FeatureStore(store_root, create=False)
    tol = Tolerance(mismatch_frames, mismatch_fraction)
    videos: list[VideoData] = []
    columns: dict[str, list[str]] = {}
    for entry in ds.entries(split):
        tables: dict[str, FeatureTable] = {}
        for mod, fs in feature_sets.items():
            if not store.has(entry.video, fs):
                raise StoreError(
                    f"video {entry.video!r} has no {fs!r} features (run vafusion extract)",
                    store_root,
                )
            tables[mod] = store.get(entry.video, fs, mmap=True)
        info = store.video_info(entry.video) or {}
        n_frames = info.get("n_frames")
        if not n_frames:
            n_frames = max(int(np.max(t.frame)) + 1 if t.n_rows else 0 for t in tables.values())
        n_frames = int(n_frames)
        feats, valid = {}, {}
        for mod, table in tables.items():
            if table.face_id is not None:
                table = select_face(table, n_frames, how=entry.subject)
            cols = list(table.columns)
            if columns.setdefault(mod, cols) != cols:
                raise StoreError(
                    f"video {entry.video!r}: {feature_sets[mod]!r} columns differ from other "
                    "videos (mixed extractor configs?)",
                    store_root,
                )
            feats[mod], valid[mod] = dense_table(table, n_frames)
        labels = None
        if entry.labels is not None:
            labels = align_labels(entry.labels, n_frames, tol, name=entry.annotation_path)
        videos.append(VideoData(entry.name, n_frames, feats, valid, labels, split))
    spec = FeatureSpec(
        dims={m: len(c) for m, c in columns.items()},
        columns=columns,
        feature_sets=dict(feature_sets),
    )
    return videos, spec
