"""Chunks of long videos as Dask tasks, largest first, models loaded once per worker.

:class:`DaskChunks` has the interface of :class:`~vafusion.parallel.local.ChunkPool`
(``workers``, ``tracker_config``, ``stream``), so
:func:`~vafusion.parallel.local.extract_features_chunked` runs unchanged on a Dask
cluster: each chunk of a video is one task (:func:`~vafusion.parallel.chunks.track_chunk`
on a worker), this process stitches the chunks in time order and runs the feature sets.
A long video thus keeps every worker busy, and a cluster's wall time is set by the total
work rather than by its longest video.

Scheduling: every task gets the Dask ``priority`` of its chunk's length in seconds, so
the largest chunks start first; at most ``ahead`` chunks (default: twice the number of
workers) are submitted and not yet collected, which bounds the memory their results hold
on the cluster whatever the video's length. Each worker process builds its face tracker
once (:func:`~vafusion.parallel.chunks.worker_tracker`, run on every worker when the
:class:`DaskChunks` is made) and keeps it for every later task.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from vafusion.io.media import keyframe_times
from vafusion.parallel.chunks import Chunk, track_chunk, worker_tracker


def _warm(tracker_config: Any) -> None:
    """Build this worker's face tracker now (what ``client.run`` runs on every worker)."""
    worker_tracker(tracker_config)


def _priority(chunk: Chunk, end_s: float) -> int:
    """Dask priority of a chunk: its length in whole seconds (higher runs first)."""
    lo = chunk.keep_s or 0.0
    hi = end_s if chunk.stop_s is None else chunk.stop_s
    return int(max(hi - lo, 0.0))


class DaskChunks:
    """Track chunks as tasks of a Dask cluster (interface of ``ChunkPool``).

    Parameters
    ----------
    client : distributed.Client
    tracker_config : TrackerConfig, optional
    ahead : int, optional
        Most chunks submitted and not yet collected (default: 2 x workers).
    warm : bool
        Build the face tracker on every worker now (start-up paid once per worker).

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> chunks = DaskChunks(client)  # doctest: +SKIP
    >>> info, tables = extract_features_chunked("long.mp4", extractors, chunks)  # doctest: +SKIP
    """

    def __init__(
        self,
        client: Any,
        tracker_config: Any = None,
        *,
        ahead: int | None = None,
        warm: bool = True,
    ) -> None:
        self.client = client
        self.tracker_config = tracker_config
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        self.ahead = ahead or 2 * self.workers
        if warm:
            client.run(_warm, tracker_config)

    def stream(
        self,
        path: str | os.PathLike,
        plan: Sequence[Chunk],
        max_side: int | None,
        stride: int = 1,
        end_s: float | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Track every chunk of ``plan`` on the cluster; yield them in plan order.

        Yields ``("begin", chunk)``, ``("frames", [FrameRecord, ...])`` and ``("end",
        info)`` for each chunk in turn (see ``ChunkPool.stream``). ``end_s``: the video's
        duration, for the last chunk's priority (default: read from its packets).

        Raises
        ------
        Exception
            What a task raised (e.g. :class:`~vafusion.errors.MediaError`).
        """
        if end_s is None:
            end_s = keyframe_times(path)[2]
        run = uuid.uuid4().hex[:8]
        name = os.path.basename(str(path))
        todo = deque(plan)
        futures: deque = deque()

        def submit() -> None:
            chunk = todo.popleft()
            futures.append(
                self.client.submit(
                    track_chunk,
                    str(path),
                    chunk,
                    self.tracker_config,
                    max_side,
                    stride,
                    key=f"vafusion-chunk-{name}-{chunk.index}-{run}",
                    priority=_priority(chunk, end_s),
                    pure=False,
                )
            )

        while todo and len(futures) < self.ahead:
            submit()
        try:
            while futures:
                result = futures.popleft().result()
                if todo:
                    submit()
                yield "begin", result.chunk
                yield "frames", result.frames
                yield "end", result.info
        finally:
            for fut in futures:
                fut.cancel()
