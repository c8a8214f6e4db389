"""Both cores on one video: time chunks tracked in worker processes, features in order.

:func:`extract_features_chunked` has the contract of
:func:`vafusion.features.pipeline.extract_features` (one pass, one table per extractor)
but splits the video into time chunks at keyframes (:func:`~vafusion.parallel.chunks.
plan_chunks`). Worker processes of a :class:`ChunkPool` decode and track the chunks (the
face mesh is the bottleneck: one chunk per core); this process stitches them back in time
order (:class:`~vafusion.parallel.stitch.Stitcher`) and feeds the frame consumers
(facepose, expression, ...) exactly as the sequential pass does, so every consumer sees
one stream of frames with video-wide indices and face ids.

Difference from one sequential pass (the warm-up effect): a chunk's tracker starts cold
``warmup_s`` before its boundary, so just after a boundary the face mesh's own tracking
state, and the full-frame detection schedule, differ from a tracker that has run since
the start of the video; landmarks there agree to a fraction of a pixel, not bit for bit,
and a face that is lost right at a boundary may come back under a new id. The face ids,
the number of rows and every frame's time are otherwise those of the sequential pass
(tests/test_parallel_chunks.py measures it on a real clip).

Consumers that need the frame pixels (``needs_pixels = True``) make it fall back to the
sequential pass: consumers here receive frames whose ``image`` is a pixel-less
placeholder of the right shape.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from vafusion.features.base import FeatureTable
from vafusion.io.media import VideoInfo, keyframe_times, scan
from vafusion.log import get_logger, progress_bar
from vafusion.parallel.chunks import (
    MAX_CHUNK_S,
    WARMUP_S,
    Chunk,
    plan_chunks,
    track_chunk,
    worker_tracker,
)
from vafusion.parallel.stitch import Stitcher

log = get_logger("parallel")

#: one BLAS/OpenMP thread per worker process (N workers = N cores)
_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


#: this worker process's queue back to the pool's owner (set by :func:`_init_worker`)
_QUEUE: Any = None


def _init_worker(tracker_config: Any, results: Any) -> None:
    """Worker start-up (once per process): build and warm up the face tracker."""
    import cv2

    global _QUEUE
    _QUEUE = results
    cv2.setNumThreads(1)
    worker_tracker(tracker_config)


def _stream_chunk(run: str, path: str, chunk: Chunk, tracker_config: Any, max_side, stride):
    """Track one chunk, sending its frame records through the pool's queue as they come.

    The batches go to the queue tagged ``(run, chunk index)``, then ``None`` (the end
    marker, after every batch on the same queue); returns the range's VideoInfo.
    """

    def send(batch: list) -> None:
        _QUEUE.put((run, chunk.index, batch))

    try:
        result = track_chunk(path, chunk, tracker_config, max_side, stride, on_batch=send)
    finally:
        _QUEUE.put((run, chunk.index, None))
    return result.info


class ChunkPool:
    """Worker processes that track chunks; models are loaded once per process.

    Parameters
    ----------
    workers : int
        Number of processes (default: the number of cores).
    tracker_config : TrackerConfig, optional
        Face tracker settings of every worker.
    start_method : str
        ``multiprocessing`` start method; ``"forkserver"`` (default) starts workers from a
        clean process, safe whatever threads this process runs.

    Examples
    --------
    >>> with ChunkPool(2) as pool:  # doctest: +SKIP
    ...     info, tables = extract_features_chunked("clip.mp4", extractors, pool=pool)
    """

    def __init__(
        self, workers: int | None = None, tracker_config: Any = None, start_method: str = ""
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.tracker_config = tracker_config
        ctx = multiprocessing.get_context(start_method or "forkserver")
        if ctx.get_start_method() == "forkserver":
            # the fork server imports the heavy libraries once; workers fork from it
            ctx.set_forkserver_preload(["vafusion.parallel.chunks", "cv2", "mediapipe"])
        for k, v in _THREAD_ENV.items():
            os.environ.setdefault(k, v)
        self._queue = ctx.Queue()
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(tracker_config, self._queue),
        )

    def start(self) -> ChunkPool:
        """Start the workers now (they load their models while this process goes on)."""
        self._started = [self._executor.submit(os.getpid) for _ in range(self.workers)]
        return self

    def wait_ready(self) -> ChunkPool:
        """Block until every worker has started and loaded its models."""
        for f in getattr(self, "_started", None) or self.start()._started:
            f.result()
        return self

    def stream(
        self,
        path: str | os.PathLike,
        plan: Sequence[Chunk],
        max_side: int | None,
        stride: int = 1,
    ) -> Iterator[tuple[str, Any]]:
        """Track every chunk of ``plan``; yield their frames in plan order as they come.

        Yields ``("begin", chunk)``, then ``("frames", [FrameRecord, ...])`` batches, then
        ``("end", info)`` for each chunk in turn, so the caller consumes chunk 0 while the
        workers still track the others. At most ``workers + 1`` chunks are in flight, so
        memory stays bounded by a few chunks whatever the video's length. One video at a
        time per pool.

        Raises
        ------
        Exception
            What a worker raised (e.g. :class:`~vafusion.errors.MediaError`), or
            ``BrokenProcessPool`` if a worker process died.
        """
        run = uuid.uuid4().hex
        futures: dict[int, Future] = {}
        buffers: dict[int, deque] = {c.index: deque() for c in plan}
        todo = iter(plan)

        def submit() -> None:
            chunk = next(todo, None)
            if chunk is not None:
                args = (run, str(path), chunk, self.tracker_config, max_side, stride)
                futures[chunk.index] = self._executor.submit(_stream_chunk, *args)

        for _ in range(self.workers + 1):
            submit()
        try:
            for chunk in plan:
                yield "begin", chunk
                while True:
                    while not buffers[chunk.index]:
                        self._receive(run, buffers, futures[chunk.index])
                    batch = buffers[chunk.index].popleft()
                    if batch is None:
                        break
                    yield "frames", batch
                info = futures.pop(chunk.index).result()
                submit()
                yield "end", info
        finally:
            for fut in futures.values():
                fut.cancel()

    def _receive(self, run: str, buffers: dict[int, deque], current: Future) -> None:
        """Move the next queued batch into ``buffers``; raise if ``current`` failed."""
        try:
            tag, index, batch = self._queue.get(timeout=0.1)
        except queue.Empty:
            if current.done() and current.exception() is not None:
                raise current.exception() from None
            return
        if tag == run:
            buffers[index].append(batch)

    def close(self) -> None:
        """Stop the worker processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._queue.close()

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def strided_scan(path: str | os.PathLike, stride: int = 1):
    """A frame source (``FrameSource``) over ``path`` passing on frames ``index % stride == 0``.

    Every frame is still decoded (the codec needs them); the others are not converted.
    """

    def source(on_frame, max_side):
        if on_frame is None or stride == 1:
            return scan(path, on_frame, max_side=max_side)
        return scan(
            path, lambda f: on_frame(f) if f.index % stride == 0 else None, max_side=max_side
        )

    return source


def chunk_plan(
    path: str | os.PathLike,
    n_chunks: int,
    *,
    warmup_s: float = WARMUP_S,
    max_chunk_s: float = MAX_CHUNK_S,
) -> list[Chunk]:
    """The chunks of one video (see :func:`~vafusion.parallel.chunks.plan_chunks`).

    One chunk (no split) when its packets have no timestamps.
    """
    keyframes, _, end_s = keyframe_times(path)
    return plan_chunks(keyframes, end_s, n_chunks, warmup_s=warmup_s, max_chunk_s=max_chunk_s)


def extract_features_chunked(
    path: str | os.PathLike,
    extractors: Sequence[Any],
    pool: ChunkPool,
    *,
    max_side: int | None = 1280,
    warmup_s: float = WARMUP_S,
    max_chunk_s: float = MAX_CHUNK_S,
    stride: int = 1,
) -> tuple[VideoInfo, dict[str, FeatureTable]]:
    """Like :func:`~vafusion.features.pipeline.extract_features`, chunks in ``pool``.

    Parameters
    ----------
    path : str or PathLike
    extractors : sequence
        Extractor instances; frame consumers are fed in this process.
    pool : ChunkPool
        Its ``tracker_config`` must be the one the consumers expect.
    max_side : int, optional
    warmup_s, max_chunk_s : float
        See :func:`~vafusion.parallel.chunks.plan_chunks`.
    stride : int
        Analyse every ``stride``-th frame only (consumers see only those frames).

    Returns
    -------
    info : VideoInfo
    tables : dict of str to FeatureTable
        As the sequential pass (see the module docstring for the warm-up effect).
    """
    from vafusion.faces.tracker import TrackerConfig
    from vafusion.features.pipeline import extract_features

    consumers = [e for e in extractors if hasattr(e, "push")]
    plan = chunk_plan(path, pool.workers, warmup_s=warmup_s, max_chunk_s=max_chunk_s)
    faces = any(getattr(c, "needs_faces", False) for c in consumers)
    pixels = any(getattr(c, "needs_pixels", False) for c in consumers)
    wanted = [c.tracker_config for c in consumers if getattr(c, "tracker_config", None)]
    same = all(w == (pool.tracker_config or TrackerConfig()) for w in wanted)
    if len(plan) == 1 or not faces or pixels or not same:
        source = strided_scan(path, stride)
        return extract_features(path, extractors, max_side=max_side, source=source)
    log.debug("%s: %d chunks in %d processes", path, len(plan), pool.workers)
    for c in consumers:
        c.begin(path, max_side)
    stitcher = Stitcher(plan)
    with progress_bar(os.path.basename(str(path)), unit="frames") as advance:
        for kind, item in pool.stream(path, plan, max_side, stride):
            if kind == "begin":
                stitcher.begin(item)
                continue
            frames = stitcher.feed(item) if kind == "frames" else stitcher.end(item)
            for frame, observations in frames:
                if observations is not None:
                    for c in consumers:
                        c.push(frame, observations)
                advance()
    info = stitcher.info()
    timestamps = stitcher.timestamps_array()
    tables: dict[str, FeatureTable] = {}
    for extractor in extractors:
        if hasattr(extractor, "push"):
            tables[extractor.name] = extractor.end(info, timestamps)
        else:
            tables[extractor.name] = extractor.compute(path, info, timestamps)
    return info, tables
