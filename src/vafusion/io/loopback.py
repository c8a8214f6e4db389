"""Serve a video file as a paced live stream on loopback (to try or test live mode).

:func:`serve_clip` re-encodes a clip as H.264 (zero-latency settings) in MPEG-TS and sends
it to the first client of ``tcp://127.0.0.1:PORT`` at the given frame rate, as a camera or
an RTSP/TCP source would. :func:`start_server` runs it in its own process (PyAV holds the
GIL while it waits for the client, which would stall a thread of the caller) and returns
the process and a queue that receives ``{frame index: time.monotonic() when sent}``, so a
caller can measure the latency of ``vafusion predict --live tcp://127.0.0.1:PORT``.
Only the loopback interface is used.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def serve_clip(clip: str | os.PathLike, port: int, fps: int = 25, ready=None) -> dict[int, float]:
    """Stream ``clip`` to the first client of ``tcp://127.0.0.1:port``, paced at ``fps``.

    Parameters
    ----------
    clip : path
        Any video PyAV decodes (its frames are held in memory: use short clips).
    port : int
    fps : int
        Sending rate in frames per second.
    ready : multiprocessing.Event, optional
        Set once the clip is decoded and the server is about to listen.

    Returns
    -------
    dict of int to float
        ``time.monotonic()`` at which each frame index was handed to the encoder.
    """
    import av

    sent: dict[int, float] = {}
    with av.open(str(clip)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    if ready is not None:
        ready.set()
    with av.open(
        f"tcp://{HOST}:{port}?listen=1",
        "w",
        format="mpegts",
        timeout=60,
        container_options={"flush_packets": "1"},
    ) as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height = frames[0].shape[1], frames[0].shape[0]
        st.pix_fmt = "yuv420p"
        st.options = {"tune": "zerolatency", "preset": "ultrafast", "g": str(fps)}
        t0 = time.monotonic()
        try:
            for i, img in enumerate(frames):
                delay = t0 + i / fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = i
                sent[i] = time.monotonic()
                for p in st.encode(vf):
                    out.mux(p)
            for p in st.encode():
                out.mux(p)
        except (OSError, av.error.FFmpegError):
            pass  # the client went away
    return sent


def _serve_to_queue(clip, port: int, fps: int, ready, results) -> None:
    results.put(serve_clip(clip, port, fps, ready))


def start_server(clip: str | os.PathLike, port: int | None = None, fps: int = 25):
    """Run :func:`serve_clip` in a separate process; wait until it is about to listen.

    Returns
    -------
    url : str
        ``tcp://127.0.0.1:PORT`` for ``vafusion predict --live``.
    process : multiprocessing.Process
    results : multiprocessing.Queue
        Receives the ``{frame index: send time}`` dict when the stream ends.
    """
    port = port or free_port()
    ctx = mp.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    process = ctx.Process(
        target=_serve_to_queue, args=(str(clip), port, fps, ready, results), daemon=True
    )
    process.start()
    if not ready.wait(60):
        process.kill()
        raise RuntimeError("loopback stream server did not start")
    return f"tcp://{HOST}:{port}", process, results
