"""Fetch a few frames of a video again (for thumbnails) without decoding all of it."""

from __future__ import annotations

import os

from vafusion.io.media import frame_to_rgb
from vafusion.log import get_logger

log = get_logger("media")


def grab_frames(path: str | os.PathLike, times: list[float], max_side: int = 640) -> dict:
    """Decode the frames nearest to some times on the video time axis.

    Seeks to the key frame before each time and decodes forward, so the cost is at most
    one group of pictures per time, not the whole video.

    Parameters
    ----------
    path : str or PathLike
    times : list of float
        Seconds on the video time axis (0 = first decoded frame).
    max_side : int
        Frames are downscaled to at most this side.

    Returns
    -------
    dict of float to (numpy.ndarray (H, W, 3) uint8, float)
        ``time -> (RGB image, scale)`` where ``scale`` = image size / original size.
        Times that could not be fetched are missing.
    """
    import av

    out: dict = {}
    if not times:
        return out
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError):
        return out
    with container:
        stream = container.streams.video[0]
        tb = float(stream.time_base)
        t0 = None
        for frame in container.decode(stream):
            t0 = frame.pts * tb if frame.pts is not None else 0.0
            break
        if t0 is None:
            return out
        rate = float(stream.average_rate or 25.0)
        for target in sorted(set(times)):
            try:
                # the key frame at or before (target - one frame): FFmpeg seeks backward
                container.seek(max(int((t0 + target - 1.0 / rate) / tb), 0), stream=stream)
                best = None
                for frame in container.decode(stream):
                    if frame.pts is None:
                        continue
                    t = frame.pts * tb - t0
                    if best is None or abs(t - target) < best[0]:
                        best = (abs(t - target), frame)
                    if t >= target - 0.5 / rate:
                        break
                if best is not None:
                    out[target] = frame_to_rgb(best[1], max_side)
            except av.error.FFmpegError as exc:
                log.debug("%s: could not fetch frame at %.2f s (%s)", path, target, exc)
    return out
