"""Both cores on one video: time chunks tracked in worker processes, features in order.

:func:`process_chunked` has the contract of :meth:`vafusion.extraction.Pipeline.process`
(one pass, one table per feature set)
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

Feature sets here receive frames whose ``image`` is a pixel-less placeholder of the right
shape (every built-in set reads only the tracked faces).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from vafusion.errors import ConfigError
from vafusion.features.base import Accumulator
from vafusion.io.media import FrameSource, keyframe_times
from vafusion.log import expected_frames, get_logger, progress_bar, stderr_held_until_exit
from vafusion.parallel.chunks import (
    MAX_CHUNK_S,
    WARMUP_S,
    Chunk,
    plan_chunks,
    track_chunk,
    worker_tracker,
)
from vafusion.parallel.stitch import Stitcher

if TYPE_CHECKING:
    from vafusion.extraction.pipeline import Pipeline, VideoFeatures

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
    ...     result = process_chunked(Pipeline("facepose"), "clip.mp4", pool)
    """

    def __init__(
        self, workers: int | None = None, tracker_config: Any = None, start_method: str = ""
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.tracker_config = tracker_config
        ctx = multiprocessing.get_context(start_method or "forkserver")
        if ctx.get_start_method() == "forkserver":
            # the fork server imports the heavy libraries once; workers fork from it. It
            # lives as long as this process, holding our stderr (see the log module)
            # (forkserver_ready, last, freezes the server's heap before any worker forks)
            preload = ["vafusion.parallel.chunks", "cv2", "mediapipe"]
            ctx.set_forkserver_preload([*preload, "vafusion.parallel.forkserver_ready"])
            stderr_held_until_exit()
        for k, v in _THREAD_ENV.items():
            os.environ.setdefault(k, v)
        self._queue = ctx.Queue()
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(tracker_config, self._queue),
        )
        self._starter: threading.Thread | None = None
        self._started: list[Future] = []
        self._start_error: BaseException | None = None

    def start(self) -> ChunkPool:
        """Start the workers; returns at once (they load their models meanwhile).

        Starting a process blocks until the fork server has imported its libraries (most
        of a second): a thread waits for it, so this process loads its own model meanwhile.
        """
        if self._starter is None:
            self._starter = threading.Thread(
                target=self._spawn, name="vafusion-pool-start", daemon=True
            )
            self._starter.start()
        return self

    def _spawn(self) -> None:
        try:
            self._started = [self._executor.submit(os.getpid) for _ in range(self.workers)]
        except BaseException as exc:  # noqa: BLE001 - raised again by _join_start
            self._start_error = exc

    def _join_start(self) -> None:
        """Wait for :meth:`start`'s thread (started now if need be); raise what it raised."""
        self.start()._starter.join()
        if self._start_error is not None:
            raise self._start_error

    def wait_ready(self) -> ChunkPool:
        """Block until every worker has started and loaded its models."""
        self._join_start()
        for f in self._started:
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
        self._join_start()  # the warm-up tasks go first
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
        if self._starter is not None:
            self._starter.join()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._queue.close()

    def __enter__(self) -> ChunkPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Strided:
    """A frame source passing on the frames with ``index % stride == 0`` only.

    Every frame is still decoded (the codec needs them); the others are not converted.

    Parameters
    ----------
    source : FrameSource
        E.g. :class:`vafusion.io.Video`.
    stride : int
    """

    def __init__(self, source: FrameSource, stride: int = 1) -> None:
        self.source = source
        self.path = source.path
        self.stride = stride

    def scan(self, on_frame=None):
        """See :meth:`vafusion.io.Video.scan`."""
        if on_frame is None or self.stride == 1:
            return self.source.scan(on_frame)
        k = self.stride
        return self.source.scan(lambda f: on_frame(f) if f.index % k == 0 else None)

    def audio(self, sample_rate: int = 16_000, duration_s: float | None = None):
        """The source's audio (see :meth:`vafusion.io.Video.audio`)."""
        return self.source.audio(sample_rate, duration_s)


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


def splits_into_chunks(path: str | os.PathLike, workers: int) -> bool:
    """Whether ``path`` splits into several time chunks for ``workers`` processes.

    A short video (one chunk) is not worth starting chunk workers for; an unreadable one
    is left to the normal path, which reports it.
    """
    from vafusion.errors import VafusionError

    try:
        return len(chunk_plan(path, workers)) > 1
    except VafusionError:
        return False


def process_chunked(
    pipeline: Pipeline,
    path: str | os.PathLike,
    pool: ChunkPool,
    *,
    extra: Sequence[Accumulator] = (),
    warmup_s: float = WARMUP_S,
    max_chunk_s: float = MAX_CHUNK_S,
    stride: int = 1,
) -> VideoFeatures:
    """Like :meth:`vafusion.extraction.Pipeline.process`, face tracking in ``pool``.

    Parameters
    ----------
    pipeline : Pipeline
        Its feature sets are fed in this process, in frame order.
    path : str or PathLike
    pool : ChunkPool
        Its ``tracker_config`` must be the pipeline's (``ConfigError`` otherwise, when the
        pipeline tracks faces).
    extra : sequence of Accumulator
        As for :meth:`~vafusion.extraction.Pipeline.process`.
    warmup_s, max_chunk_s : float
        See :func:`~vafusion.parallel.chunks.plan_chunks`.
    stride : int
        Analyse every ``stride``-th frame only (the sets see only those frames).

    Returns
    -------
    VideoFeatures
        As the sequential pass (see the module docstring for the warm-up effect).

    Raises
    ------
    ConfigError
        If the pool's tracker settings are not the pipeline's.
    """
    from vafusion.extraction.pipeline import VideoFeatures
    from vafusion.faces.tracker import TrackerConfig

    max_side = pipeline.config.decoder.size_cap
    plan = chunk_plan(path, pool.workers, warmup_s=warmup_s, max_chunk_s=max_chunk_s)
    faces = pipeline.needs_faces or any(acc.needs_faces for acc in extra)
    if faces and (pool.tracker_config or TrackerConfig()) != pipeline.config.faces:
        # the workers would track with other settings than the pipeline's keys say
        raise ConfigError(
            "the chunk pool's tracker settings differ from the pipeline's: start the pool "
            "with the pipeline's (ChunkPool(workers, pipeline.config.faces))"
        )
    if len(plan) == 1 or not faces:
        return pipeline.process(Strided(pipeline.source(path), stride), extra=extra)
    log.debug("%s: %d chunks in %d processes", path, len(plan), pool.workers)
    source = pipeline.source(path)
    accs = {name: fs.accumulator(source) for name, fs in pipeline.sets.items()}
    feeds = [accs[n] for n, fs in pipeline.sets.items() if fs.needs_frames] + list(extra)
    stitcher = Stitcher(plan)
    name, total = os.path.basename(str(path)), expected_frames(path)
    with progress_bar(name, total=total, unit="frames") as advance:
        for kind, item in pool.stream(path, plan, max_side, stride):
            if kind == "begin":
                stitcher.begin(item)
                continue
            frames = stitcher.feed(item) if kind == "frames" else stitcher.end(item)
            for frame, observations in frames:
                if observations is not None:
                    for acc in feeds:
                        acc.push(frame, observations)
                advance()
    info = stitcher.info()
    timestamps = stitcher.timestamps_array()
    tables = {name: acc.finish(info, timestamps) for name, acc in accs.items()}
    for acc in extra:
        tables[acc.name] = acc.finish(info, timestamps)
    return VideoFeatures(info, timestamps, tables, pipeline.keys())
