"""Three overlapped stages over one frame source: decode | track | consume."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from vafusion.io.media import VideoFrame, VideoInfo


class _Stop(Exception):
    """Raised inside a pipeline thread when another stage failed."""


def run_overlapped(
    scan: Callable[[Callable[[VideoFrame], None]], tuple[VideoInfo, np.ndarray]],
    track: Callable[[VideoFrame], list],
    consume: Callable[[VideoFrame, list], None],
    depth: int = 8,
) -> tuple[VideoInfo, np.ndarray]:
    """A frame source as a three-stage pipeline: decode | ``track`` | ``consume``.

    Decoding (``scan(on_frame)``, e.g. :meth:`vafusion.io.Video.scan`) runs in one thread,
    face tracking (``faces = track(frame)``) in the caller's thread and the feature sets
    (``consume(frame, faces)``) in a third, connected by bounded queues of ``depth`` items
    and kept in frame order. PyAV, MediaPipe, OpenCV and NumPy release the GIL while they
    work, so on two cores decoding and feature computation overlap face inference. An error
    in any stage stops all three and is re-raised here.

    Returns
    -------
    info : VideoInfo
    timestamps : numpy.ndarray, shape (n_frames,), float64
        What ``scan`` returned.
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
            result["scan"] = scan(lambda f: put(decoded, f))
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
