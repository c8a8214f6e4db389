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
from pathlib import Path

import numpy as np

from vafusion import __version__
from vafusion.errors import StoreError
from vafusion.features.base import FeatureTable
from vafusion.store._atomic import (
    TRASH_PREFIX,
    atomic_write_json,
    dumps,
    file_lock,
    fsync_dir,
    save_npy_synced,
    tmp_name,
    write_bytes_synced,
)
from vafusion.store.layout import (  # noqa: F401 - the store's public names, re-exported
    ARRAYS,
    ENTRY_JSON,
    KEY_VERSION,
    MANIFEST,
    STORE_FORMAT,
    STORE_VERSION,
    Entry,
    Manifest,
    check_name,
    check_video_name,
    entry_key,
    now_iso,
)
from vafusion.store.maintenance import StoreMaintenance
from vafusion.store.reading import StoreReading


class FeatureStore(StoreReading, StoreMaintenance):
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
                        atomic_write_json(manifest, Manifest().to_json())
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
    def _read_manifest(self) -> Manifest:
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Manifest()
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
        return Manifest(
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
            self.root / "data" / check_name("video", video) / check_name("feature set", feature_set)
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
        check_name("video", video)
        check_name("feature set", table.name)
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
        created = now_iso()
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

            def publish(m: Manifest) -> None:
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
        check_name("video", video)
        line = " ".join(str(error).split())

        def fn(m: Manifest) -> None:
            m.failures[video] = {"error": line, "features": features or [], "time": now_iso()}

        self._update_manifest(fn)

    def clear_failure(self, video: str) -> None:
        """Forget a recorded failure of ``video`` (after a successful re-extraction)."""

        def fn(m: Manifest) -> None:
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
