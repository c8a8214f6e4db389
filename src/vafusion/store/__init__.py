"""Feature store: where extracted features are written once and read many times.

Public API
----------
:class:`FeatureStore`
    ``put`` / ``has`` / ``get`` / ``get_array`` (memmap) / ``read_rows`` (window) /
    ``videos`` / ``entries`` / ``video_info`` / ``record_failure`` / ``failures`` / ``info``.
:class:`Entry`
    One stored (video, feature set, config hash, version) entry.
:func:`dense_features`
    One feature set as a dense per-frame table (face sets reduced to one subject).
:func:`frame_table` / :func:`export_video`
    One row per decoded frame with all requested feature sets side by side (``export``).

See ``docs/store.md`` for the on-disk format and its guarantees.
"""

from vafusion.store.feature_store import STORE_VERSION, Entry, FeatureStore, entry_key

__all__ = [
    "STORE_VERSION",
    "Entry",
    "FeatureStore",
    "entry_key",
    "dense_features",
    "frame_table",
    "export_video",
]


def __getattr__(name: str):
    if name in ("dense_features", "frame_table", "export_video"):
        from vafusion.store import export

        return getattr(export, name)
    raise AttributeError(name)
