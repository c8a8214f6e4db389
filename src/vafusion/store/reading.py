"""Reading a feature store's entries: whole tables, memory-mapped arrays, row windows.

:class:`StoreReading` is a part of :class:`~vafusion.store.feature_store.FeatureStore`
(a base class of it); it relies on the store's entry resolution (``_resolve``,
``_load_entry_json``, ``_entry_from_json``) and its ``_mmaps`` cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vafusion.errors import StoreError
from vafusion.features.base import FeatureTable
from vafusion.store.layout import ARRAYS, ENTRY_JSON, MMAP_CACHE, Entry


class StoreReading:
    """The read methods of :class:`~vafusion.store.feature_store.FeatureStore`."""

    def entry(self, video: str, feature_set: str, extractor_hash: str | None = None) -> Entry:
        """The :class:`Entry` that :meth:`get` would read."""
        path = self._resolve(video, feature_set, extractor_hash)
        return self._entry_from_json(path, self._load_entry_json(path))

    def entry_meta(self, video: str, feature_set: str, extractor_hash: str | None = None) -> dict:
        """The full ``entry.json`` (columns, config, meta, video_info, array shapes)."""
        return self._load_entry_json(self._resolve(video, feature_set, extractor_hash))

    def _load_array(self, path: Path, doc: dict, name: str, mmap: bool) -> np.ndarray:
        spec = doc["arrays"][name]
        try:
            arr = np.load(path / f"{name}.npy", mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {name}.npy ({exc})", path) from None
        if list(arr.shape) != spec["shape"] or str(arr.dtype) != spec["dtype"]:
            raise StoreError(
                f"{name}.npy has shape {arr.shape} {arr.dtype}, entry.json says "
                f"{spec['shape']} {spec['dtype']} (corrupt entry)",
                path,
            )
        return arr

    def get(
        self,
        video: str,
        feature_set: str,
        extractor_hash: str | None = None,
        *,
        mmap: bool = False,
    ) -> FeatureTable:
        """Read one entry back as a :class:`~vafusion.features.base.FeatureTable`.

        Parameters
        ----------
        video, feature_set : str
        extractor_hash : str, optional
            None: the only entry of that set (the current version's if several versions);
            several configs raise :class:`StoreError` rather than silently picking one.
        mmap : bool, default False
            Memory-map the arrays (read-only) instead of loading them.

        Returns
        -------
        FeatureTable
            Exactly what was put: values (N, D) float32, frame, timestamp, valid, face_id,
            columns, meta.
        """
        path = self._resolve(video, feature_set, extractor_hash)
        doc = self._load_entry_json(path)
        arrays = {name: self._load_array(path, doc, name, mmap) for name in doc["arrays"]}
        meta = dict(doc.get("meta") or {})
        meta.setdefault("valid_column", doc.get("valid_column"))
        if meta.get("valid_column") is None:
            meta.pop("valid_column")
        return FeatureTable(
            name=doc["feature_set"],
            frame=arrays["frame"],
            timestamp=arrays["timestamp"],
            values=arrays["values"],
            columns=list(doc["columns"]),
            valid=arrays["valid"],
            face_id=arrays.get("face_id"),
            meta=meta,
        )

    def get_array(
        self,
        video: str,
        feature_set: str,
        extractor_hash: str | None = None,
        *,
        array: str = "values",
    ) -> np.ndarray:
        """Memory-map one array of an entry (read-only, no data read until indexed).

        Maps are cached per store object and re-validated with one ``stat`` per call, so
        calling this per training window is cheap; a replaced entry is re-mapped.

        Parameters
        ----------
        array : {"values", "frame", "timestamp", "valid", "face_id"}

        Returns
        -------
        numpy.memmap
            ``values``: shape (N, D) float32; the others shape (N,).
        """
        if array not in ARRAYS:
            raise StoreError(f"unknown array {array!r}; one of {', '.join(ARRAYS)}")
        ck = (video, feature_set, extractor_hash, array)
        hit = self._mmaps.get(ck)
        if hit is not None:
            path, ino, mm = hit
            try:
                if os.stat(path / ENTRY_JSON).st_ino == ino:
                    return mm
            except OSError:
                pass
        path = self._resolve(video, feature_set, extractor_hash)
        ino = os.stat(path / ENTRY_JSON).st_ino
        doc = self._load_entry_json(path)
        if array not in doc["arrays"]:
            raise StoreError(f"entry has no {array!r} array", path)
        mm = self._load_array(path, doc, array, mmap=True)
        if len(self._mmaps) >= MMAP_CACHE:
            self._mmaps.pop(next(iter(self._mmaps)))
        self._mmaps[ck] = (path, ino, mm)
        return mm

    def read_rows(
        self,
        video: str,
        feature_set: str,
        start: int,
        stop: int,
        extractor_hash: str | None = None,
    ) -> np.ndarray:
        """Rows ``start:stop`` of ``values`` (a training window), read through a memmap.

        Returns
        -------
        numpy.ndarray, shape (stop - start, D), float32
            A copy (only these rows are read from disk).
        """
        mm = self.get_array(video, feature_set, extractor_hash)
        return np.array(mm[start:stop])

    def columns(self, video: str, feature_set: str, extractor_hash: str | None = None) -> list:
        """Column names of an entry."""
        return list(self.entry_meta(video, feature_set, extractor_hash)["columns"])
