"""Live mode: a camera, a network stream or a file played at real-time pace -> JSON lines.

Design (bounded latency)
------------------------
* A **decoder thread** reads the source with PyAV and puts each decoded frame into a
  one-frame **latest-frame slot**, overwriting the previous one if it was not taken yet
  (that frame is *dropped*, counted, never queued). With ``realtime=True`` (files) it
  waits until each frame's presentation time, as a live source would deliver it.
* The **caller's thread** takes the newest frame, tracks faces and hands them to the
  model's live session (the default model's face cues and fusion made causal,
  :mod:`vafusion.predict.live_cues`; or the circumplex prior), which smooths causally; one
  JSON line per face per processed frame. So the output never falls behind the source by more
  than about one processing time plus the source's own buffering.
* Ctrl-C (``KeyboardInterrupt``), ``stop`` being set, ``max_seconds`` or the end of the
  stream ends it cleanly; statistics go to the log.

Each line: ``{"timestamp": s, "face_id": id|null, "valence": v|null, "arousal": a|null,
"confidence": c|null, "latency_s": s, "dropped": n}`` where ``timestamp`` is on the source's
time axis (0 = the stream's start time as the container reports it, else the first decoded
frame; a network stream joined mid-way, or whose first frames cannot be decoded before a key
frame, starts above 0), ``confidence`` the default model's per-frame confidence (null for
``circumplex``) and ``latency_s`` the time from the frame leaving the decoder to its line
being written.

The decoder uses slice threading only: frame threading would hold back one frame per
decoding thread, adding latency.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from vafusion.errors import ConfigError, MediaError
from vafusion.io.media import VideoFrame, frame_to_rgb
from vafusion.log import get_logger

log = get_logger("live")

#: Options for network sources: small probe, no demuxer buffering.
NETWORK_OPTIONS = {
    "fflags": "nobuffer",
    "flags": "low_delay",
    "probesize": "32768",
    "analyzeduration": "200000",
    "rw_timeout": "10000000",
}


@dataclass
class LiveStats:
    """What a live run did.

    Attributes
    ----------
    decoded, processed, dropped : int
        Frames decoded, processed and skipped (overwritten in the slot).
    latencies : list of float
        Per processed frame, seconds from decode to output.
    """

    decoded: int = 0
    processed: int = 0
    dropped: int = 0
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-compatible statistics (latency mean / p95 / max in seconds)."""
        lat = np.asarray(self.latencies) if self.latencies else np.zeros(1)
        return {
            "decoded": self.decoded,
            "processed": self.processed,
            "dropped": self.dropped,
            "latency_mean_s": float(lat.mean()),
            "latency_p95_s": float(np.percentile(lat, 95)),
            "latency_max_s": float(lat.max()),
        }


class LatestFrameSlot:
    """A one-item mailbox: ``put`` overwrites, ``get`` waits for the newest item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.overwritten = 0

    def put(self, item: Any) -> None:
        """Store ``item``, replacing (dropping) an untaken one."""
        with self._cond:
            if self._item is not None:
                self.overwritten += 1
            self._item = item
            self._cond.notify()

    def close(self) -> None:
        """No more items will come (``get`` returns None once empty)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout: float = 0.2) -> tuple[bool, Any]:
        """Return ``(alive, item)``; ``item`` None on timeout; ``alive`` False when closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return (item is not None or not self._closed), item


def open_source(source: str, timeout_s: float = 10.0):
    """Open a live source with PyAV.

    Parameters
    ----------
    source : str
        ``/dev/videoN`` or an integer N (camera, V4L2), a URL (``rtsp://``, ``http://``,
        ``udp://``, ``tcp://``...), or a file path.
    timeout_s : float, default 10
        A network source that sends nothing for this long is an error.

    Raises
    ------
    MediaError
        If it cannot be opened or has no video stream.
    """
    import av

    src = str(source)
    kwargs: dict[str, Any] = {"metadata_errors": "ignore"}
    if src.isdigit() or src.startswith("/dev/video"):
        src = f"/dev/video{src}" if src.isdigit() else src
        kwargs["format"] = "v4l2"
    elif "://" in src:
        kwargs["options"] = {**NETWORK_OPTIONS, "rw_timeout": str(int(timeout_s * 1e6))}
        kwargs["timeout"] = timeout_s
    elif not Path(src).exists():
        raise MediaError("no such file, camera or URL", src)
    t0 = time.monotonic()
    try:
        container = av.open(src, **kwargs)
    except (av.error.FFmpegError, OSError) as exc:
        if "://" in src and time.monotonic() - t0 >= 0.9 * timeout_s:
            # FFmpeg's own words for its timeout are "Immediate exit requested"
            raise MediaError(
                f"no video data arrived within {timeout_s:g} s (is anything sending to it?)",
                src,
            ) from None
        raise MediaError(f"cannot open live source ({exc})", src) from None
    if not container.streams.video:
        container.close()
        raise MediaError("no video stream", src)
    return container


def _decoder(container, slot: LatestFrameSlot, stats: LiveStats, realtime: bool, stop) -> None:
    import av

    stream = container.streams.video[0]
    stream.thread_type = "SLICE"  # frame threading delays every frame (see module doc)
    tb = float(stream.time_base) if stream.time_base else 1.0 / 90000
    t0 = None
    wall0 = None
    last_t = -1.0
    try:
        for frame in container.decode(stream):
            if stop.is_set():
                break
            t = (frame.pts * tb) if frame.pts is not None else last_t + 1 / 25
            if t0 is None:
                t0, wall0 = _time_origin(stream, t, tb), time.monotonic()
                wall0 -= t - t0  # realtime pacing: the first frame is due now
            t -= t0
            if t <= last_t:
                t = last_t + 1e-6
            last_t = t
            if realtime:
                delay = wall0 + t - time.monotonic()
                if delay > 0:
                    stop.wait(delay)
                    if stop.is_set():
                        break
            stats.decoded += 1
            slot.put((frame, t, time.monotonic()))
    except av.error.FFmpegError as exc:
        if not stop.is_set():
            log.warning("live source ended with an error: %s", exc)
    finally:
        slot.close()


def _time_origin(stream, first_t: float, tb: float) -> float:
    """Time (s, stream time base) that maps to 0: the stream's start time when plausible.

    A stream whose first decodable frame comes after its start (frames read while probing
    are dropped with ``nobuffer``; decoding starts at a key frame) keeps its own time axis,
    so ``timestamp`` says which source frame a line is about. An implausible start time
    (after the first frame, or more than a minute before it) falls back to the first frame.
    """
    start = stream.start_time
    if start is None:
        return first_t
    t_start = float(start) * tb
    return t_start if 0.0 <= first_t - t_start <= 60.0 else first_t


def _to_video_frame(frame, index: int, t: float, max_side: int) -> VideoFrame:
    image, scale = frame_to_rgb(frame, max_side)
    return VideoFrame(index, t, image, scale)


def run_live(
    source: str,
    model: Any = "default",
    *,
    realtime: bool = False,
    output: IO[str] | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    max_side: int = 640,
) -> LiveStats:
    """Stream valence/arousal of a live source as JSON lines.

    Parameters
    ----------
    source : str
        Camera (``0``, ``/dev/video0``), stream URL, or file (use ``realtime=True``).
    model : str or model
        ``"default"`` (face cues, made causal) or ``"circumplex"`` (the prior), or a loaded
        one (checkpoint models need whole windows: refused).
    realtime : bool
        Pace a file at its frame rate (as a camera would deliver it).
    output : text stream, optional
        Where lines go (default stdout).
    max_seconds : float, optional
        Stop after this much wall time.
    stop : threading.Event, optional
        Set it to stop from another thread.
    max_side : int
        Frames are scaled to at most this side before face tracking.

    Returns
    -------
    LiveStats
    """
    from vafusion.predict.api import load_model

    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ConfigError(f"--max-seconds must be a number > 0, got {max_seconds!r}")
    # the default model runs on ONNX Runtime: torch is neither needed nor imported (its
    # import alone costs seconds of a cold start); if a caller loaded it, one thread
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)  # one frame at a time: threads only add contention
    mdl = load_model(model)
    if not hasattr(mdl, "live_session"):
        raise ConfigError("live mode supports the built-in models only (default, circumplex)")
    output = output or sys.stdout
    stop = stop or threading.Event()
    tracker = mdl.new_tracker()
    mdl.warm_up(tracker)
    container = open_source(source, min(10.0, max_seconds) if max_seconds else 10.0)
    stats = LiveStats()
    slot = LatestFrameSlot()
    session = mdl.live_session()
    thread = threading.Thread(
        target=_decoder, args=(container, slot, stats, realtime, stop), daemon=True
    )
    t_start = time.monotonic()
    thread.start()
    index = 0
    try:
        while not stop.is_set():
            if max_seconds is not None and time.monotonic() - t_start > max_seconds:
                break
            alive, item = slot.get()
            if item is None:
                if not alive:
                    break
                continue
            frame, t, t_dec = item
            vf = _to_video_frame(frame, index, t, max_side)
            index += 1
            faces = tracker.process(vf)
            h, w = vf.image.shape[:2]
            results = session.step(t, faces, (round(w / vf.scale), round(h / vf.scale)))
            now = time.monotonic()
            lines = [
                _line(t, r.face_id, r.va, r.confidence, now - t_dec, slot.overwritten)
                for r in results
            ]
            if not results:
                lines.append(_line(t, None, None, None, now - t_dec, slot.overwritten))
            output.write("".join(lines))
            output.flush()
            stats.processed += 1
            stats.latencies.append(time.monotonic() - t_dec)
    except KeyboardInterrupt:
        log.info("interrupted")
    except BrokenPipeError:
        log.info("output closed")
    finally:
        stop.set()
        thread.join(timeout=2.0)
        stats.dropped = slot.overwritten
        with contextlib.suppress(Exception):  # a broken stream must not mask the exit
            container.close()
        tracker.close()
        log.info("live: %s", json.dumps(stats.summary()))
    return stats


def _line(t: float, fid, va, confidence, latency: float, dropped: int) -> str:
    def num(x):
        return None if x is None or not math.isfinite(x) else round(float(x), 4)

    return (
        json.dumps(
            {
                "timestamp": round(t, 4),
                "face_id": fid,
                "valence": None if va is None else num(va[0]),
                "arousal": None if va is None else num(va[1]),
                "confidence": num(confidence),
                "latency_s": round(latency, 4),
                "dropped": dropped,
            }
        )
        + "\n"
    )
