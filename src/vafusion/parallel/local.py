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
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from vafusion.features.base import Accumulator
from vafusion.io.media import FrameSource, keyframe_times
from vafusion.log import get_logger, progress_bar
from vafusion.parallel.chunks import (
    MAX_CHUNK_S,
    WARMUP_S,
    Chunk,
    ChunkResult,
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


def _init_worker(tracker_config: Any) -> None:
    """Worker start-up (once per process): build and warm up the face tracker."""
    import cv2

    cv2.setNumThreads(1)
    worker_tracker(tracker_config)


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
            # the fork server imports the heavy libraries once; workers fork from it
            ctx.set_forkserver_preload(["vafusion.parallel.chunks", "cv2", "mediapipe"])
        for k, v in _THREAD_ENV.items():
            os.environ.setdefault(k, v)
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_init_worker, initargs=(tracker_config,)
        )

    def start(self) -> ChunkPool:
        """Start the workers now (they load their models while this process goes on)."""
        for _ in range(self.workers):
            self._executor.submit(os.getpid)
        return self

    def results(
        self,
        path: str | os.PathLike,
        plan: Sequence[Chunk],
        max_side: int | None,
        stride: int = 1,
    ) -> Iterator[ChunkResult]:
        """Track every chunk of ``plan``; yield the results in plan order.

        At most ``workers + 1`` chunks are in flight, so memory stays bounded by a few
        chunks whatever the video's length.
        """
        pending: deque[Future] = deque()
        todo = iter(plan)

        def submit(chunk: Chunk) -> None:
            args = (str(path), chunk, self.tracker_config, max_side, stride)
            pending.append(self._executor.submit(track_chunk, *args))

        for chunk in todo:
            submit(chunk)
            if len(pending) > self.workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                submit(nxt)
            yield result

    def close(self) -> None:
        """Stop the worker processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)

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
        Its ``tracker_config`` must be the pipeline's (else: the sequential pass).
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
    """
    from vafusion.extraction.pipeline import VideoFeatures
    from vafusion.faces.tracker import TrackerConfig

    max_side = pipeline.config.decoder.size_cap
    plan = chunk_plan(path, pool.workers, warmup_s=warmup_s, max_chunk_s=max_chunk_s)
    faces = pipeline.needs_faces or any(acc.needs_faces for acc in extra)
    same = (pool.tracker_config or TrackerConfig()) == pipeline.config.faces
    if len(plan) == 1 or not faces or not same:
        return pipeline.process(Strided(pipeline.source(path), stride), extra=extra)
    log.debug("%s: %d chunks in %d processes", path, len(plan), pool.workers)
    source = pipeline.source(path)
    accs = {name: fs.accumulator(source) for name, fs in pipeline.sets.items()}
    feeds = [accs[n] for n, fs in pipeline.sets.items() if fs.needs_frames] + list(extra)
    stitcher = Stitcher(plan)
    with progress_bar(os.path.basename(str(path)), unit="frames") as advance:
        for result in pool.results(path, plan, max_side, stride):
            for frame, observations in stitcher.add(result):
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
