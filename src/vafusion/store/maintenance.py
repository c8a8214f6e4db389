"""Maintaining a feature store: summary, damage report, re-indexing, clean-up.

:class:`StoreMaintenance` is a part of :class:`~vafusion.store.feature_store.FeatureStore`
(a base class of it); it relies on the store's manifest and entry listing methods.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from vafusion.errors import StoreError
from vafusion.store._atomic import TMP_PREFIX, TRASH_PREFIX, age_s, pid_is_dead
from vafusion.store.layout import MANIFEST, STORE_VERSION, Manifest


class StoreMaintenance:
    """The maintenance methods of :class:`~vafusion.store.feature_store.FeatureStore`."""

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

    @classmethod
    def rebuild(cls, root: str | os.PathLike):
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
            cls(root, create=False)
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

        def fn(m: Manifest) -> None:
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
