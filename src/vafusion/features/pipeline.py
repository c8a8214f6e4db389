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
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from vafusion.errors import ConfigError
from vafusion.features.base import FeatureTable
from vafusion.io.media import VideoFrame, VideoInfo, scan
from vafusion.log import get_logger, progress_bar

log = get_logger("pipeline")

#: feature-set name -> "module:Class" of its extractor (imported lazily: heavy deps).
FEATURE_SETS: dict[str, str] = {
    "audio": "vafusion.features.audio:AudioExtractor",
    "egemaps": "vafusion.features.egemaps:EgemapsExtractor",
    "facepose": "vafusion.faces.facepose:FacePoseExtractor",
    "expression": "vafusion.expression.extractor:ExpressionExtractor",
}


class FrameConsumer(Protocol):
    """A feature extractor fed frame by frame during the shared decode pass."""

    name: str
    needs_faces: bool

    def begin(self, path: str | os.PathLike, max_side: int | None) -> None: ...

    def push(self, frame: VideoFrame, faces: list) -> None: ...

    def end(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable: ...


class _Stop(Exception):
    """Raised inside the decode thread when the consumer side failed."""


def _scan_overlapped(
    path: str | os.PathLike, on_frame: Any, max_side: int | None, depth: int = 8
) -> tuple[VideoInfo, np.ndarray]:
    """:func:`scan` with decoding in a background thread and ``on_frame`` in this one.

    PyAV and MediaPipe release the GIL while they work, so decoding the next frames
    overlaps face inference on the current one. Frames pass through a bounded queue
    (``depth`` frames); an error on either side stops both and is re-raised here.
    """
    frames: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    result: dict[str, Any] = {}
    done = object()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def produce() -> None:
        try:
            result["scan"] = scan(path, put, max_side=max_side)
        except _Stop:
            pass
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
        finally:
            try:
                put(done)
            except _Stop:
                pass

    thread = threading.Thread(target=produce, name="vafusion-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = frames.get()
            if item is done:
                break
            on_frame(item)
    finally:
        stop.set()
        thread.join()
    if "error" in result:
        raise result["error"]
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

    Returns
    -------
    info : VideoInfo
    tables : dict of str to FeatureTable
        One table per extractor name, each with one row per decoded frame (per face for
        multi-face tables).
    """
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

    with progress_bar(f"{os.path.basename(str(path))}", unit="frames") as advance:
        if needs_faces:  # decode in a thread, overlapped with face inference (2 cores)
            info, timestamps = _scan_overlapped(path, on_frame, max_side)
        else:
            info, timestamps = scan(path, on_frame, max_side=max_side)
    tables: dict[str, FeatureTable] = {}
    for extractor in extractors:
        if hasattr(extractor, "push"):
            tables[extractor.name] = extractor.end(info, timestamps)
        else:
            tables[extractor.name] = extractor.compute(path, info, timestamps)
    return info, tables
