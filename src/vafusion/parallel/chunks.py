"""Time chunks of one video: planning at keyframes, and face tracking of one chunk.

A chunk is a span ``[keep_s, stop_s)`` of the video time axis that starts at a keyframe,
so its decoder starts there without decoding the frames before it. Every chunk but the
first is *tracked* from ``start_s = keep_s - warmup_s``: the face tracker of the chunk
starts cold on those warm-up frames, which the previous chunk also covers, so that

* its tracks are already locked when the kept part begins, and
* its face ids can be matched to the previous chunk's ids on the shared frames
  (see :mod:`vafusion.parallel.stitch`).

:func:`track_chunk` is the task a worker process runs (a process pool or a Dask worker):
it loads the face tracker once per process and returns compact per-frame records (no
frame pixels; the aligned face crops and landmarks only).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vafusion.config import config_hash
from vafusion.io.media import VideoInfo, scan

#: default warm-up before each chunk boundary, seconds
WARMUP_S = 1.0
#: default longest chunk, seconds (bounds a chunk's memory: ~40 kB per face and frame)
MAX_CHUNK_S = 30.0
#: no chunk shorter than this, seconds (the warm-up would dominate)
MIN_CHUNK_S = 4.0


@dataclass(frozen=True)
class Chunk:
    """One time chunk of a video (seconds on the video time axis).

    Attributes
    ----------
    index : int
        Position in the plan (0, 1, ...).
    start_s : float or None
        Where tracking starts (``keep_s - warmup``); None: the start of the video.
    keep_s : float or None
        First time whose frames belong to this chunk; None: the start of the video.
    stop_s : float or None
        End (exclusive); None: the end of the video.
    """

    index: int
    start_s: float | None
    keep_s: float | None
    stop_s: float | None

    @property
    def length_s(self) -> float:
        """Kept length in seconds (``inf`` for an open end); for scheduling, largest first."""
        lo = self.keep_s or 0.0
        return math.inf if self.stop_s is None else self.stop_s - lo


def plan_chunks(
    keyframes: np.ndarray,
    end_s: float,
    n_chunks: int,
    *,
    warmup_s: float = WARMUP_S,
    max_chunk_s: float = MAX_CHUNK_S,
    min_chunk_s: float = MIN_CHUNK_S,
) -> list[Chunk]:
    """Split a video into about equal time chunks whose boundaries are keyframes.

    Parameters
    ----------
    keyframes : numpy.ndarray, shape (K,), float64
        Keyframe times (see :func:`vafusion.io.media.keyframe_times`).
    end_s : float
        Approximate duration of the video, seconds.
    n_chunks : int
        Wanted number of chunks (e.g. the number of worker processes); more are made
        when a chunk would be longer than ``max_chunk_s``.
    warmup_s : float
        Tracking warm-up before each boundary.
    max_chunk_s, min_chunk_s : float
        Longest wanted chunk; shortest allowed chunk.

    Returns
    -------
    list of Chunk
        In time order, covering the whole video without gaps or overlap of kept spans;
        a single chunk when the video cannot be split (no keyframe where needed).
    """
    n = max(int(n_chunks), int(math.ceil(end_s / max_chunk_s)) if max_chunk_s > 0 else 1, 1)
    kf = np.asarray(keyframes, dtype=np.float64)
    kf = kf[(kf >= min_chunk_s) & (kf <= end_s - min_chunk_s)]
    bounds: list[float] = []
    for i in range(1, n):
        if not len(kf):
            break
        b = float(kf[np.argmin(np.abs(kf - i * end_s / n))])
        if b - (bounds[-1] if bounds else 0.0) >= min_chunk_s:
            bounds.append(b)
    edges: list[float | None] = [None, *bounds, None]
    return [
        Chunk(
            index=i,
            start_s=None if lo is None else max(lo - warmup_s, 0.0),
            keep_s=lo,
            stop_s=hi,
        )
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]


@dataclass
class FaceRecord:
    """One tracked face in one frame, without the frame's pixels (cheap to send).

    Attributes
    ----------
    face_id : int
        Track id in the chunk (or, after stitching, in the video).
    bbox : numpy.ndarray, shape (4,), float32
    landmarks : numpy.ndarray, shape (478, 3), float32
    score : float
    aligned : numpy.ndarray, shape (S, S, 3), uint8
        The aligned face crop.
    """

    face_id: int
    bbox: np.ndarray
    landmarks: np.ndarray
    score: float
    aligned: np.ndarray


@dataclass
class FrameRecord:
    """One decoded frame of a chunk: its time, size and faces.

    Attributes
    ----------
    timestamp : float
    shape : tuple of int
        ``(H, W)`` of the decoded (possibly downscaled) image.
    scale : float
        Decoded size / original size.
    faces : list of FaceRecord or None
        None: the frame was not analysed (frame stride).
    """

    timestamp: float
    shape: tuple[int, int]
    scale: float
    faces: list[FaceRecord] | None


@dataclass
class ChunkResult:
    """What :func:`track_chunk` returns.

    Attributes
    ----------
    chunk : Chunk
    info : VideoInfo
        Of the decoded range (warm-up included).
    frames : list of FrameRecord
        Every decoded frame of the range in time order, warm-up frames first.
    """

    chunk: Chunk
    info: VideoInfo
    frames: list[FrameRecord]


#: face trackers of this process, by config hash: built once per worker process
_TRACKERS: dict[str, Any] = {}


def worker_tracker(tracker_config: Any = None):
    """This process's face tracker for ``tracker_config`` (built and warmed up once)."""
    from vafusion.faces.tracker import FaceTracker, TrackerConfig

    cfg = tracker_config or TrackerConfig()
    key = config_hash(cfg)
    if key not in _TRACKERS:
        tracker = FaceTracker(cfg)
        tracker.warm_up()
        _TRACKERS[key] = tracker
    return _TRACKERS[key]


def track_chunk(
    path: str | os.PathLike,
    chunk: Chunk,
    tracker_config: Any = None,
    max_side: int | None = 1280,
    stride: int = 1,
    on_batch: Callable[[list[FrameRecord]], None] | None = None,
    batch_frames: int = 16,
) -> ChunkResult:
    """Decode one chunk (warm-up included) and track its faces.

    Parameters
    ----------
    path : str or PathLike
    chunk : Chunk
    tracker_config : TrackerConfig, optional
    max_side : int, optional
        Decoder downscaling, as in :func:`vafusion.io.media.scan`.
    stride : int
        Track only every ``stride``-th frame of the chunk (the others get ``faces=None``).
    on_batch : callable, optional
        Called with every ``batch_frames`` new frame records as they are made (streaming);
        the returned ``frames`` are then empty.
    batch_frames : int

    Returns
    -------
    ChunkResult
    """
    tracker = worker_tracker(tracker_config)
    tracker.reset()
    frames: list[FrameRecord] = []

    def on_frame(frame) -> None:
        faces = None
        if frame.index % stride == 0:
            faces = [
                FaceRecord(int(f.face_id), f.bbox, f.landmarks, float(f.score), f.aligned)
                for f in tracker.process(frame)
            ]
        h, w = frame.image.shape[:2]
        frames.append(FrameRecord(frame.timestamp, (h, w), frame.scale, faces))
        if on_batch is not None and len(frames) >= batch_frames:
            on_batch(frames[:])
            frames.clear()

    try:
        info, _ = scan(
            path, on_frame, max_side=max_side, start_s=chunk.start_s, stop_s=chunk.stop_s
        )
    finally:
        tracker.reset()
    if on_batch is not None and frames:
        on_batch(frames[:])
        frames.clear()
    return ChunkResult(chunk, info, frames)
