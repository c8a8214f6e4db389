"""The feature store: per-video, per-feature-set entries, atomic, memory-mappable.

Layout (see ``docs/store.md`` for the reasons)::

    STORE/
      manifest.json                          store version, video infos, failures
      .lock                                  flock() target serialising manifest updates
      data/<video>/<feature_set>/<key>-v<KEY_VERSION>/
          entry.json                         columns, config, video info, shapes, meta
          values.npy     (N, D) float32      uncompressed: np.load(mmap_mode="r") is free
          frame.npy      (N,)   int64
          timestamp.npy  (N,)   float64
          valid.npy      (N,)   bool
          face_id.npy    (N,)   int64        only for long-form face tables

An entry is keyed by video name (the file stem), feature-set name and the set's key
(:func:`vafusion.extraction.config.set_key`: every setting of every stage the set depends
on, not the package version); changing a setting creates a new entry next to the old one,
so features from different settings are never mixed. :data:`KEY_VERSION` changes only when
the meaning of keys changes.

Atomicity: an entry is written into a temporary sibling folder (``.tmp-*``), every file and
the folder are ``fsync``-ed, and the folder is renamed to its final name; the manifest is
then rewritten atomically (temporary file + ``fsync`` + rename) under an exclusive
``flock``. Readers resolve entries from the folders themselves (never from ``.tmp-*``), so a
crash, ``kill -9`` or a full disk can leave garbage that :meth:`FeatureStore.cleanup`
removes, but never a half-written entry that reads as valid. An entry whose folder exists
but is missing from the manifest (crash between the two steps) is still valid; run
:meth:`FeatureStore.rebuild_manifest` (``vafusion store info --rebuild``) to re-index.

Examples
--------
>>> store = FeatureStore("features/")                         # doctest: +SKIP
>>> store.put("clip", table, extractor_hash="3f2a9c01de")     # doctest: +SKIP
>>> store.get("clip", "audio").values.shape                   # doctest: +SKIP
(472, 168)
>>> store.read_rows("clip", "audio", 100, 115).shape          # a 15-frame window, mmap read
(15, 168)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vafusion import __version__
from vafusion.errors import StoreError
from vafusion.features.base import FeatureTable
from vafusion.store._atomic import (
    TMP_PREFIX,
    TRASH_PREFIX,
    age_s,
    atomic_write_json,
    dumps,
    file_lock,
    fsync_dir,
    pid_is_dead,
    save_npy_synced,
    tmp_name,
    write_bytes_synced,
)

#: On-disk format version of the store, written into ``manifest.json``.
STORE_VERSION = 1
STORE_FORMAT = "vafusion-feature-store"
#: Version of the key scheme in entry folder names (2: keys cover the whole pipeline).
KEY_VERSION = "2"
MANIFEST = "manifest.json"
#: memmaps kept open per FeatureStore object (oldest dropped first)
_MMAP_CACHE = 8192
ENTRY_JSON = "entry.json"
#: array name -> dtype of the ``.npy`` files of an entry
ARRAYS: dict[str, str] = {
    "values": "float32",
    "frame": "int64",
    "timestamp": "float64",
    "valid": "bool",
    "face_id": "int64",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_name(kind: str, name: str) -> str:
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or any(c in name for c in "/\\\0")
    ):
        raise StoreError(f"invalid {kind} name {name!r} (no '/', '\\\\', leading '.')")
    return name


def check_video_name(name: str) -> str:
    """Return ``name`` if it can be a store key, else raise :class:`StoreError` (empty, a
    leading ``.``, or a ``/``, ``\\`` or NUL in it: it could name a path)."""
    return _check_name("video", name)


def entry_key(extractor_hash: str, version: str = KEY_VERSION) -> str:
    """Folder name of an entry: ``<extractor_hash>-v<KEY_VERSION>``."""
    _check_name("extractor hash", extractor_hash)
    if "-v" in extractor_hash:
        raise StoreError(f"invalid extractor hash {extractor_hash!r} (must not contain '-v')")
    return f"{extractor_hash}-v{version}"


@dataclass(frozen=True)
class Entry:
    """One stored (video, feature set, config, version) entry.

    Attributes
    ----------
    video : str
        Video name (file stem).
    feature_set : str
        ``"audio"``, ``"facepose"``, ``"expression"``, ...
    extractor_hash : str
        The feature set's key (:func:`vafusion.extraction.config.set_key`).
    version : str
        Key scheme version (:data:`KEY_VERSION`).
    n_rows : int
        Rows (= decoded frames for per-frame tables; frames x tracks for long face tables).
    dim : int
        Number of feature columns ``D``.
    path : str
        The entry's folder.
    created : str
        ISO time of writing.
    long_form : bool
        True when the table has a ``face_id`` column (one row per frame per face track).
    """

    video: str
    feature_set: str
    extractor_hash: str
    version: str
    n_rows: int
    dim: int
    path: str
    created: str = ""
    long_form: bool = False

    @property
    def key(self) -> str:
        """``<extractor_hash>-v<version>``."""
        return f"{self.extractor_hash}-v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict."""
        return asdict(self)


@dataclass
class _Manifest:
    videos: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "format": STORE_FORMAT,
            "store_version": STORE_VERSION,
            "written_by": f"vafusion {__version__}",
            "updated": _now(),
            "videos": self.videos,
            "failures": self.failures,
        }


class FeatureStore:
    """A folder of per-video feature tables (see the module docstring for the layout).

    Parameters
    ----------
    root : str or PathLike
        The store folder; created (with its manifest) if missing and ``create`` is True.
    create : bool, default True
        If False, a missing store raises :class:`~vafusion.errors.StoreError`.

    Notes
    -----
    Safe for concurrent writers (processes on one machine, or Dask workers on several
    machines sharing a POSIX file system with working ``flock``); readers need no lock.
    """

    def __init__(self, root: str | os.PathLike, *, create: bool = True) -> None:
        self.root = Path(root)
        self._mmaps: dict[tuple, tuple[Path, int, np.ndarray]] = {}
        manifest = self.root / MANIFEST
        if not manifest.exists():
            if not create:
                hint = (
                    "; 'vafusion store info --rebuild' re-indexes it"
                    if (self.root / "data").is_dir()
                    else ""
                )
                raise StoreError(f"not a feature store (no manifest.json){hint}", self.root)
            if self.root.exists() and not self.root.is_dir():
                raise StoreError("exists and is not a folder", self.root)
            try:
                (self.root / "data").mkdir(parents=True, exist_ok=True)
                with file_lock(self.root / ".lock"):
                    if not manifest.exists():
                        atomic_write_json(manifest, _Manifest().to_json())
            except OSError as exc:
                raise StoreError(f"cannot create store: {exc.strerror}", self.root) from None
        else:
            self._read_manifest()  # validates format and version

    def check_writable(self) -> None:
        """Raise :class:`StoreError` now if entries cannot be written (before hours of work).

        The store folder, its ``data/`` folder and its ``.lock`` file must be writable.
        """
        for path in (self.root, self.root / "data", self.root / ".lock"):
            mode = os.W_OK | (os.X_OK if path.is_dir() else os.R_OK)
            if path.exists() and not os.access(path, mode):
                raise StoreError(
                    f"not writable (permission denied or read-only file system: {path.name})",
                    self.root,
                )

    def __getstate__(self) -> dict:
        # memmaps would be pickled as full copies: workers re-open their own
        return {**self.__dict__, "_mmaps": {}}

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"

    # ------------------------------------------------------------------ manifest
    def _read_manifest(self) -> _Manifest:
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _Manifest()
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"unreadable manifest ({exc}); 'vafusion store info --rebuild' re-indexes the "
                "store from its entries",
                path,
            ) from None
        if not isinstance(data, dict) or data.get("format") != STORE_FORMAT:
            hint = "; 'vafusion store info --rebuild' re-indexes the store from its entries"
            raise StoreError(
                "not a vafusion feature store manifest"
                + (hint if (self.root / "data").is_dir() else ""),
                path,
            )
        if int(data.get("store_version", 0)) > STORE_VERSION:
            raise StoreError(
                f"store format version {data.get('store_version')} is newer than this "
                f"vafusion ({__version__}) supports ({STORE_VERSION}); upgrade vafusion",
                path,
            )
        return _Manifest(
            videos=data.get("videos", {}),
            failures=data.get("failures", {}),
        )

    def _update_manifest(self, fn) -> None:
        with file_lock(self.root / ".lock"):
            manifest = self._read_manifest()
            fn(manifest)
            atomic_write_json(self.root / MANIFEST, manifest.to_json())

    def manifest(self) -> dict:
        """The raw manifest (format, ``store_version``, entries, videos, failures)."""
        return self._read_manifest().to_json()

    # ------------------------------------------------------------------ paths
    def _set_dir(self, video: str, feature_set: str) -> Path:
        return (
            self.root
            / "data"
            / _check_name("video", video)
            / _check_name("feature set", feature_set)
        )

    def _entry_dir(self, video: str, feature_set: str, key: str) -> Path:
        return self._set_dir(video, feature_set) / key

    @staticmethod
    def _parse_key(key: str) -> tuple[str, str] | None:
        if key.startswith(".") or "-v" not in key:
            return None
        h, _, v = key.rpartition("-v")
        return h, v

    def _load_entry_json(self, path: Path) -> dict:
        try:
            return json.loads((path / ENTRY_JSON).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError("entry is missing entry.json (not a complete entry)", path) from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"corrupt entry.json ({exc})", path) from None

    def _entry_from_json(self, path: Path, data: dict) -> Entry:
        return Entry(
            video=data["video"],
            feature_set=data["feature_set"],
            extractor_hash=data["extractor_hash"],
            version=data["version"],
            n_rows=int(data["n_rows"]),
            dim=int(data["dim"]),
            path=str(path),
            created=data.get("created", ""),
            long_form="face_id" in data.get("arrays", {}),
        )

    def _candidates(self, video: str, feature_set: str) -> list[tuple[str, str, Path]]:
        d = self._set_dir(video, feature_set)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            parsed = self._parse_key(name)
            if parsed is not None and (d / name / ENTRY_JSON).is_file():
                out.append((parsed[0], parsed[1], d / name))
        return out

    def _resolve(self, video: str, feature_set: str, extractor_hash: str | None) -> Path:
        if extractor_hash is not None:
            path = self._entry_dir(video, feature_set, entry_key(extractor_hash))
            if (path / ENTRY_JSON).is_file():
                return path
            others = self._candidates(video, feature_set)
            hint = f" (stored: {', '.join(p.name for _, _, p in others)})" if others else ""
            raise StoreError(
                f"no {feature_set!r} features for video {video!r} with config hash "
                f"{extractor_hash}{hint}",
                self.root,
            )
        cands = self._candidates(video, feature_set)
        if not cands:
            raise StoreError(f"no {feature_set!r} features for video {video!r}", self.root)
        if len(cands) > 1:
            current = [c for c in cands if c[1] == KEY_VERSION]
            if len(current) == 1:
                return current[0][2]
            raise StoreError(
                f"video {video!r} has {len(cands)} {feature_set!r} entries from different "
                f"configs/versions ({', '.join(p.name for _, _, p in cands)}); pass "
                "extractor_hash= to choose one",
                self.root,
            )
        return cands[0][2]

    # ------------------------------------------------------------------ writing
    def put(
        self,
        video: str,
        table: FeatureTable,
        *,
        extractor_hash: str,
        video_info: dict | None = None,
        config: dict | None = None,
    ) -> Entry:
        """Write one video's table of one feature set, atomically (replacing an older copy).

        Parameters
        ----------
        video : str
            Video name (the file stem).
        table : FeatureTable
            ``values`` (N, D) float32 etc.; ``table.name`` is the feature-set name.
        extractor_hash : str
            The feature set's key (``Pipeline.keys()``).
        video_info : dict, optional
            ``VideoInfo.to_dict()`` of the decoded video (frame count, fps...), kept with
            the entry and in the manifest (used by frame reconciliation).
        config : dict, optional
            The extractor's config as a dict; defaults to ``table.meta["config"]``.

        Returns
        -------
        Entry

        Raises
        ------
        StoreError
            If the entry cannot be written (e.g. disk full); nothing partial stays visible.
        """
        _check_name("video", video)
        _check_name("feature set", table.name)
        key = entry_key(extractor_hash)
        parent = self._set_dir(video, table.name)
        final = parent / key
        arrays = {
            "values": table.values,
            "frame": table.frame,
            "timestamp": table.timestamp,
            "valid": table.valid,
        }
        if table.face_id is not None:
            arrays["face_id"] = table.face_id
        created = _now()
        doc = {
            "video": video,
            "feature_set": table.name,
            "extractor_hash": extractor_hash,
            "version": KEY_VERSION,
            "written_by": f"vafusion {__version__}",
            "store_version": STORE_VERSION,
            "created": created,
            "n_rows": table.n_rows,
            "dim": table.dim,
            "columns": list(table.columns),
            "valid_column": table.valid_column,
            "config": config if config is not None else table.meta.get("config"),
            "meta": table.meta,
            "video_info": video_info,
            "arrays": {
                k: {"dtype": ARRAYS[k], "shape": list(np.shape(a))} for k, a in arrays.items()
            },
        }
        tmp: Path | None = None
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = parent / tmp_name(key)
            tmp.mkdir()
            for name, arr in arrays.items():
                save_npy_synced(tmp / f"{name}.npy", np.asarray(arr, dtype=ARRAYS[name]))
            write_bytes_synced(tmp / ENTRY_JSON, dumps(doc).encode("utf-8"))
            fsync_dir(tmp)
            entry = Entry(
                video=video,
                feature_set=table.name,
                extractor_hash=extractor_hash,
                version=KEY_VERSION,
                n_rows=table.n_rows,
                dim=table.dim,
                path=str(final),
                created=created,
                long_form=table.face_id is not None,
            )

            def publish(m: _Manifest) -> None:
                trash = None
                if final.exists():
                    trash = parent / f"{TRASH_PREFIX}{key}-{uuid.uuid4().hex[:8]}"
                    os.rename(final, trash)
                os.rename(tmp, final)
                fsync_dir(parent)
                if trash is not None:
                    shutil.rmtree(trash, ignore_errors=True)
                if video_info is not None:
                    m.videos[video] = video_info

            self._update_manifest(publish)
            return entry
        except OSError as exc:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            reason = exc.strerror or str(exc)
            raise StoreError(
                f"cannot write {table.name!r} features of {video!r}: {reason}", self.root
            ) from None
        except BaseException:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            raise

    def record_failure(self, video: str, error: str, *, features: list[str] | None = None) -> None:
        """Record that ``video`` could not be extracted (one-line ``error``)."""
        _check_name("video", video)
        line = " ".join(str(error).split())

        def fn(m: _Manifest) -> None:
            m.failures[video] = {"error": line, "features": features or [], "time": _now()}

        self._update_manifest(fn)

    def clear_failure(self, video: str) -> None:
        """Forget a recorded failure of ``video`` (after a successful re-extraction)."""

        def fn(m: _Manifest) -> None:
            m.failures.pop(video, None)

        if video in self._read_manifest().failures:
            self._update_manifest(fn)

    def remove(self, video: str, feature_set: str | None = None) -> int:
        """Delete a video's entries (all, or one feature set's); returns how many."""
        sets = [feature_set] if feature_set else self.feature_sets_of(video)
        removed = 0
        for fs in sets:
            for _, _, path in self._candidates(video, fs):
                trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
                os.rename(path, trash)
                shutil.rmtree(trash, ignore_errors=True)
                removed += 1
        return removed

    # ------------------------------------------------------------------ reading
    def has(self, video: str, feature_set: str, extractor_hash: str | None = None) -> bool:
        """Whether a complete entry exists (for ``extractor_hash`` under the current key scheme,
        or, when None, any entry of that feature set)."""
        if extractor_hash is not None:
            path = self._entry_dir(video, feature_set, entry_key(extractor_hash))
            return (path / ENTRY_JSON).is_file()
        return bool(self._candidates(video, feature_set))

    def problem(self, video: str, feature_set: str, extractor_hash: str) -> str | None:
        """Why the entry for ``extractor_hash`` is damaged (one line), or None if complete.

        Cheap: headers and file sizes against ``entry.json`` (see
        :func:`vafusion.store.verify.entry_problem`); a missing entry is "no entry".
        """
        from vafusion.store.verify import entry_problem

        path = self._entry_dir(video, feature_set, entry_key(extractor_hash))
        if not (path / ENTRY_JSON).is_file():
            return "no entry"
        return entry_problem(path)

    def damaged(self) -> dict[str, str]:
        """``{"<video>/<feature_set>/<key>": problem}`` of every damaged entry folder."""
        from vafusion.store.verify import entry_problem

        data = self.root / "data"
        videos = (
            sorted(v for v in os.listdir(data) if not v.startswith(".")) if data.is_dir() else []
        )
        out = {}
        for v in videos:
            for fs in self._sets_in(v):
                for _, _, path in self._candidates(v, fs):
                    problem = entry_problem(path)
                    if problem:
                        out[f"{v}/{fs}/{path.name}"] = problem
        return out

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
        if len(self._mmaps) >= _MMAP_CACHE:
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

    def videos(self) -> list[str]:
        """Names of videos with at least one complete entry (sorted)."""
        data = self.root / "data"
        if not data.is_dir():
            return []
        out = []
        for v in sorted(os.listdir(data)):
            if v.startswith("."):
                continue
            if any(self._candidates(v, fs) for fs in self._sets_in(v)):
                out.append(v)
        return out

    def _sets_in(self, video: str) -> list[str]:
        d = self.root / "data" / video
        try:
            return sorted(n for n in os.listdir(d) if not n.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def feature_sets_of(self, video: str) -> list[str]:
        """Feature sets stored for ``video``."""
        return [fs for fs in self._sets_in(video) if self._candidates(video, fs)]

    def entries(self, video: str | None = None, feature_set: str | None = None) -> list[Entry]:
        """All complete entries (from the folders, the source of truth), sorted."""
        vids = [video] if video is not None else self.videos()
        out = []
        for v in vids:
            for fs in [feature_set] if feature_set else self._sets_in(v):
                for _, _, path in self._candidates(v, fs):
                    with contextlib.suppress(StoreError):
                        out.append(self._entry_from_json(path, self._load_entry_json(path)))
        return out

    def hashes(self, feature_set: str) -> dict[str, int]:
        """``{"<hash>-v<version>": number of videos}`` for one feature set."""
        out: dict[str, int] = {}
        for e in self.entries(feature_set=feature_set):
            out[e.key] = out.get(e.key, 0) + 1
        return out

    def video_info(self, video: str) -> dict | None:
        """``VideoInfo.to_dict()`` recorded at extraction (None if never recorded)."""
        info = self._read_manifest().videos.get(video)
        if info is not None:
            return info
        for e in self.entries(video):
            doc = self._load_entry_json(Path(e.path))
            if doc.get("video_info"):
                return doc["video_info"]
        return None

    def failures(self) -> dict[str, str]:
        """``{video: one-line error}`` of recorded failures."""
        return {v: f["error"] for v, f in sorted(self._read_manifest().failures.items())}

    def info(self) -> dict:
        """Summary: store version, videos, per feature set the configs/shapes, failures.

        Returns
        -------
        dict
            ``{"root", "store_version", "n_videos", "feature_sets": {fs: {"entries",
            "keys": {key: n}, "dim", "rows"}}, "videos": [{"video", "n_frames", "sets":
            {fs: [n_rows, dim]}}], "failures": {video: error}, "damaged": {entry:
            problem} (see :meth:`damaged`; re-extracted by ``extract``), "bytes"}``
        """
        entries = self.entries()
        sets: dict[str, dict] = {}
        per_video: dict[str, dict] = {}
        for e in entries:
            s = sets.setdefault(e.feature_set, {"entries": 0, "keys": {}, "dim": e.dim, "rows": 0})
            s["entries"] += 1
            s["rows"] += e.n_rows
            s["keys"][e.key] = s["keys"].get(e.key, 0) + 1
            per_video.setdefault(e.video, {})[e.feature_set] = [e.n_rows, e.dim]
        m = self._read_manifest()
        videos = []
        for v in sorted(per_video):
            n_frames = (m.videos.get(v) or {}).get("n_frames")
            videos.append({"video": v, "n_frames": n_frames, "sets": per_video[v]})
        size = 0
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                with contextlib.suppress(OSError):
                    size += os.path.getsize(os.path.join(dirpath, f))
        return {
            "root": str(self.root),
            "store_version": STORE_VERSION,
            "n_videos": len(per_video),
            "feature_sets": sets,
            "videos": videos,
            "failures": {v: f["error"] for v, f in sorted(m.failures.items())},
            "damaged": self.damaged(),
            "bytes": size,
        }

    # ------------------------------------------------------------------ maintenance
    @classmethod
    def rebuild(cls, root: str | os.PathLike) -> FeatureStore:
        """Re-index a store from its entry folders, even if ``manifest.json`` is corrupt or
        gone (recorded failures are kept when the old manifest is readable).

        Raises
        ------
        StoreError
            If ``root`` has no ``data/`` folder (not a feature store).
        """
        root = Path(root)
        if not (root / "data").is_dir():
            raise StoreError("not a feature store (no manifest.json, no data/ folder)", root)
        manifest = root / MANIFEST
        try:
            FeatureStore(root, create=False)
        except StoreError as exc:
            if manifest.is_file() and "newer than this vafusion" in exc.message:
                raise
            try:  # keep the unreadable manifest next to the new one, for the record
                os.replace(manifest, root / f"{MANIFEST}.corrupt")
            except FileNotFoundError:
                pass
            except OSError as err:
                raise StoreError(f"cannot replace the manifest: {err.strerror}", root) from None
        store = cls(root)  # a fresh manifest when the old one was moved aside
        store.rebuild_manifest()
        return store

    def rebuild_manifest(self) -> None:
        """Re-index the manifest's video infos from the entry folders (the entries
        themselves are always read from the folders)."""
        entries = self.entries()

        def fn(m: _Manifest) -> None:
            for e in entries:
                doc = self._load_entry_json(Path(e.path))
                if doc.get("video_info") and e.video not in m.videos:
                    m.videos[e.video] = doc["video_info"]

        self._update_manifest(fn)

    def cleanup(self, max_age_s: float = 24 * 3600) -> int:
        """Remove leftovers of interrupted writes; returns how many were removed.

        A temporary folder is removed when its writer process (on this host) is dead or it
        is older than ``max_age_s``; replaced entries (``.trash-*``) always.
        """
        n = 0
        data = self.root / "data"
        if not data.is_dir():
            return 0
        for dirpath, dirnames, filenames in os.walk(data):
            for name in list(dirnames) + filenames:
                p = Path(dirpath) / name
                stale = name.startswith(TRASH_PREFIX) or (
                    name.startswith(TMP_PREFIX) and (pid_is_dead(name) or age_s(p) > max_age_s)
                )
                if stale:
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
                        dirnames.remove(name) if name in dirnames else None
                    else:
                        with contextlib.suppress(OSError):
                            p.unlink()
                    n += 1
        for p in self.root.glob(f"{TMP_PREFIX}*"):
            if pid_is_dead(p.name) or age_s(p) > max_age_s:
                with contextlib.suppress(OSError):
                    p.unlink()
                n += 1
        return n
