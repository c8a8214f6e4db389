"""One decode pass per video for every requested feature set.

Frame-based extractors ("consumers") see every decoded frame together with the faces the
shared :class:`~vafusion.faces.tracker.FaceTracker` found in it; the audio extractor
needs only the frame timestamps collected during that pass. So ``audio,facepose,expression``
decodes the video once and runs face tracking once.

Consumer protocol (implemented by ``FacePoseExtractor`` and ``ExpressionExtractor``)::

    name: str                       # feature-set name
    needs_faces: bool               # True: the pass runs the face tracker
    columns: list[str]
    config_hash() -> str
    begin(path, max_side) -> None   # new video
    push(frame: VideoFrame, faces: list[FaceObservation]) -> None
    end(info: VideoInfo, timestamps: ndarray) -> FeatureTable
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from vafusion.errors import ConfigError
from vafusion.features.base import FeatureTable
from vafusion.io.media import VideoFrame, VideoInfo, scan
from vafusion.log import expected_frames, get_logger, progress_bar

log = get_logger("pipeline")

#: feature-set name -> "module:Class" of its extractor (imported lazily: heavy deps).
FEATURE_SETS: dict[str, str] = {
    "audio": "vafusion.features.audio:AudioExtractor",
    "egemaps": "vafusion.features.egemaps:EgemapsExtractor",
    "facepose": "vafusion.faces.facepose:FacePoseExtractor",
    "expression": "vafusion.expression.extractor:ExpressionExtractor",
    "blendshapes": "vafusion.faces.blendshapes_set:BlendshapesExtractor",
}


class FrameConsumer(Protocol):
    """A feature extractor fed frame by frame during the shared decode pass."""

    name: str
    needs_faces: bool

    def begin(self, path: str | os.PathLike, max_side: int | None) -> None: ...

    def push(self, frame: VideoFrame, faces: list) -> None: ...

    def end(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable: ...


class _Stop(Exception):
    """Raised inside a pipeline thread when another stage failed."""


#: A frame source: ``source(on_frame, max_side) -> (VideoInfo, timestamps)``, like
#: :func:`vafusion.io.media.scan` bound to one file (or a folder of frame images).
FrameSource = Callable[[Callable[[VideoFrame], None] | None, int | None], tuple[VideoInfo, Any]]


def _run_overlapped(
    source: FrameSource,
    max_side: int | None,
    track: Any,
    consume: Any,
    depth: int = 8,
) -> tuple[VideoInfo, np.ndarray]:
    """A frame source as a three-stage pipeline: decode | ``track`` | ``consume``.

    Decoding runs in one thread, face tracking (``faces = track(frame)``) in the caller's
    thread and the consumers (``consume(frame, faces)``) in a third, connected by bounded
    queues of ``depth`` items and kept in frame order. PyAV, MediaPipe, OpenCV and NumPy
    release the GIL while they work, so on two cores decoding and feature computation
    overlap face inference. An error in any stage stops all three and is re-raised here.
    """
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=depth)
    tracked: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    errors: list[BaseException] = []
    result: dict[str, Any] = {}

    def put(q: queue.Queue, item: Any) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def get(q: queue.Queue) -> Any:
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _Stop

    def fail(exc: BaseException) -> None:
        errors.append(exc)
        stop.set()

    def decode() -> None:
        try:
            result["scan"] = source(lambda f: put(decoded, f), max_side)
            put(decoded, done)
        except _Stop:
            pass
        except BaseException as exc:  # re-raised in the caller's thread
            fail(exc)

    def consume_all() -> None:
        try:
            while (item := get(tracked)) is not done:
                consume(*item)
        except _Stop:
            pass
        except BaseException as exc:
            fail(exc)

    threads = [
        threading.Thread(target=decode, name="vafusion-decode", daemon=True),
        threading.Thread(target=consume_all, name="vafusion-consume", daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        while (frame := get(decoded)) is not done:
            put(tracked, (frame, track(frame)))
        put(tracked, done)
    except _Stop:
        pass
    except BaseException as exc:
        fail(exc)
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return result["scan"]


def parse_feature_sets(spec: str | Sequence[str]) -> list[str]:
    """Split ``"audio,facepose"`` into known feature-set names (order kept, no repeats)."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in FEATURE_SETS]
    if unknown:
        raise ConfigError(
            f"unknown feature set(s) {', '.join(unknown)}; known: {', '.join(FEATURE_SETS)}"
        )
    if not names:
        raise ConfigError("no feature set requested")
    return names


def make_extractor(name: str, config: Any = None):
    """Instantiate the extractor of feature set ``name`` (``config`` None: defaults)."""
    module_name, _, cls_name = FEATURE_SETS[name].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(config) if config is not None else cls()


def extract_features(
    path: str | os.PathLike,
    extractors: Sequence[Any],
    *,
    tracker: Any = None,
    max_side: int | None = 1280,
    source: FrameSource | None = None,
) -> tuple[VideoInfo, dict[str, FeatureTable]]:
    """Run several extractors on one video in a single decode pass.

    Parameters
    ----------
    path : str or PathLike
        The video.
    extractors : sequence
        Extractor instances (see :func:`make_extractor`).
    tracker : FaceTracker, optional
        Face tracker shared by face-based extractors; created with defaults when needed.
    max_side : int, optional
        Frames are downscaled in the decoder so their longer side is at most this (face
        coordinates are reported in original-frame pixels regardless).
    source : callable, optional
        Where frames come from (default: :func:`~vafusion.io.media.scan` of ``path``);
        e.g. :func:`vafusion.datasets.imageseq.scan_images` for a folder of frames.

    Returns
    -------
    info : VideoInfo
    tables : dict of str to FeatureTable
        One table per extractor name, each with one row per decoded frame (per face for
        multi-face tables).
    """
    if source is None:

        def source(on_frame, max_side):
            return scan(path, on_frame, max_side=max_side)

    consumers = [e for e in extractors if hasattr(e, "push")]
    needs_faces = any(getattr(c, "needs_faces", False) for c in consumers)
    if needs_faces and tracker is None:
        from vafusion.faces.tracker import FaceTracker

        configs = [getattr(c, "tracker_config", None) for c in consumers]
        tracker = FaceTracker(next((c for c in configs if c is not None), None))
    on_frame = None
    if consumers:
        for c in consumers:
            c.begin(path, max_side)
        if tracker is not None:
            tracker.reset()

        def on_frame(frame: VideoFrame) -> None:
            faces = tracker.process(frame) if needs_faces else []
            for c in consumers:
                c.push(frame, faces)
            advance()

    name, total = os.path.basename(str(path)), expected_frames(path)
    with progress_bar(name, total=total, unit="frames") as advance:
        if needs_faces:  # decode | face tracking | consumers, overlapped (see docstring)

            def consume(frame: VideoFrame, faces: list) -> None:
                for c in consumers:
                    c.push(frame, faces)
                advance()

            info, timestamps = _run_overlapped(source, max_side, tracker.process, consume)
        else:
            info, timestamps = source(on_frame, max_side)
    tables: dict[str, FeatureTable] = {}
    for extractor in extractors:
        if hasattr(extractor, "push"):
            tables[extractor.name] = extractor.end(info, timestamps)
        else:
            tables[extractor.name] = extractor.compute(path, info, timestamps)
    return info, tables
