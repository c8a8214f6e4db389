"""The feature store's on-disk names and records: versions, entry keys, entries, manifest.

See :mod:`vafusion.store.feature_store` for the layout these names describe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from vafusion import __version__
from vafusion.errors import StoreError

#: On-disk format version of the store, written into ``manifest.json``.
STORE_VERSION = 1
STORE_FORMAT = "vafusion-feature-store"
#: Version of the key scheme in entry folder names (2: keys cover the whole pipeline).
KEY_VERSION = "2"
MANIFEST = "manifest.json"
#: memmaps kept open per FeatureStore object (oldest dropped first)
MMAP_CACHE = 8192
ENTRY_JSON = "entry.json"
#: array name -> dtype of the ``.npy`` files of an entry
ARRAYS: dict[str, str] = {
    "values": "float32",
    "frame": "int64",
    "timestamp": "float64",
    "valid": "bool",
    "face_id": "int64",
}


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_name(kind: str, name: str) -> str:
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
    return check_name("video", name)


def entry_key(extractor_hash: str, version: str = KEY_VERSION) -> str:
    """Folder name of an entry: ``<extractor_hash>-v<KEY_VERSION>``."""
    check_name("extractor hash", extractor_hash)
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
class Manifest:
    """The manifest's contents: video infos and recorded failures."""

    videos: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "format": STORE_FORMAT,
            "store_version": STORE_VERSION,
            "written_by": f"vafusion {__version__}",
            "updated": now_iso(),
            "videos": self.videos,
            "failures": self.failures,
        }
