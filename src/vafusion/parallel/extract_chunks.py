"""``vafusion extract`` with time chunks: one video on every core, long videos as tasks.

Used by :func:`vafusion.extraction.extract`:

* **local**, one video to do and ``workers > 1``: the video's chunks are tracked in a
  :class:`~vafusion.parallel.local.ChunkPool` of ``workers`` processes (no Dask);
* **Dask**, several videos: a video that splits into several chunks for the cluster's
  workers (:func:`split_tasks`) has each chunk tracked as a task
  (:class:`~vafusion.parallel.dask_chunks.DaskChunks`) and is assembled here; the other
  videos stay one task each. Every task's Dask ``priority`` is its length in seconds, so
  the largest work starts first and the wall time is set by the total work, not by the
  longest video.

Feature sets without faces (audio) gain nothing from chunks: their videos stay whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vafusion.extraction.config import PipelineConfig
from vafusion.extraction.registry import feature_set_class
from vafusion.log import get_logger

log = get_logger("parallel")


def needs_faces(config: PipelineConfig) -> bool:
    """Whether any feature set of ``config`` runs the face tracker (chunks can help)."""
    return any(feature_set_class(name).needs_faces for name in config.features)


def video_seconds(path: str | Path) -> float:
    """Approximate duration from the packets (0.0 if unreadable: the task reports it)."""
    from vafusion.errors import VafusionError
    from vafusion.io.media import keyframe_times

    try:
        return float(keyframe_times(path)[2])
    except (VafusionError, OSError):
        return 0.0


def split_tasks(
    tasks: Sequence[tuple[Path, PipelineConfig]], workers: int
) -> tuple[list[tuple[Path, PipelineConfig]], list[tuple[Path, PipelineConfig, int]]]:
    """Split ``(path, config)`` tasks into videos to chunk and whole-video tasks.

    Returns
    -------
    chunked : list of (path, config)
        Videos with face sets that split into several chunks for ``workers`` workers,
        longest first.
    whole : list of (path, config, priority)
        The others, with their Dask priority (length in seconds), longest first.
    """
    from vafusion.datasets.imageseq import is_image_sequence
    from vafusion.parallel.local import chunk_plan

    chunked, whole = [], []
    for path, config in tasks:
        seconds = 0.0 if is_image_sequence(path) else video_seconds(path)
        if seconds and needs_faces(config) and len(chunk_plan(path, workers)) > 1:
            chunked.append((seconds, path, config))
        else:
            whole.append((path, config, int(seconds)))
    chunked.sort(key=lambda t: -t[0])
    whole.sort(key=lambda t: -t[2])
    return [(p, c) for _, p, c in chunked], whole


def extract_local_chunked(path: Path, config: PipelineConfig, store_root: str, workers: int):
    """Extract one video with its chunks tracked in ``workers`` processes (see above)."""
    from vafusion.extraction.batch import extract_one
    from vafusion.parallel.local import ChunkPool

    with ChunkPool(workers, config.faces) as pool:
        return extract_one(str(path), store_root, config, pool=pool)


def extract_dask_chunked(
    client: Any, tasks: Sequence[tuple[Path, PipelineConfig]], store_root: str
) -> list[dict]:
    """Extract videos whose chunks are Dask tasks, one after the other, longest first."""
    from vafusion.extraction.batch import extract_one
    from vafusion.parallel.dask_chunks import DaskChunks

    results, pools = [], {}
    for path, config in tasks:
        key = repr(config.faces)
        if key not in pools:
            pools[key] = DaskChunks(client, config.faces)
        results.append(extract_one(str(path), store_root, config, pool=pools[key]))
    return results
