"""Fetch a few frames of a video again (for thumbnails) without decoding all of it."""

from __future__ import annotations

import os

import numpy as np

from vafusion.log import get_logger

log = get_logger("report")


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

    from vafusion.io.media import _apply_rotation, _rotation_of, _target_size

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
                if best is None:
                    continue
                frame = best[1]
                w, h, scale = _target_size(frame.width, frame.height, max_side)
                image = frame.to_ndarray(format="rgb24", width=w, height=h)
                out[target] = (_apply_rotation(image, _rotation_of(frame)), scale)
            except av.error.FFmpegError as exc:
                log.debug("%s: could not fetch frame at %.2f s (%s)", path, target, exc)
    return out


def crop_face(
    image: np.ndarray, bbox: np.ndarray, scale: float, size: int = 160, margin: float = 1.4
) -> np.ndarray:
    """Square crop around a face box, resized to ``size``.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8
    bbox : numpy.ndarray, shape (4,)
        ``x0, y0, x1, y1`` in original-frame pixels.
    scale : float
        ``image`` size / original frame size.
    size : int
    margin : float
        Crop side / face size.

    Returns
    -------
    numpy.ndarray, shape (size, size, 3), uint8
    """
    import cv2

    x0, y0, x1, y1 = (np.asarray(bbox, dtype=np.float64) * scale).tolist()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0, 8.0) * margin
    k = size / side
    warp = np.array([[k, 0, -k * (cx - side / 2)], [0, k, -k * (cy - side / 2)]])
    return cv2.warpAffine(image, warp, (size, size), borderMode=cv2.BORDER_CONSTANT)


def jpeg_bytes(image: np.ndarray, quality: int = 85) -> bytes:
    """Encode an RGB image as JPEG."""
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    return buf.tobytes() if ok else b""
