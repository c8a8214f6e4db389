"""``--overlay``: the video re-encoded with face boxes and a valence-arousal gauge per frame.

The video is decoded a second time (streaming) and re-encoded as H.264 (PyAV/libx264,
``yuv420p``, CRF 23) with every frame at its source presentation time (a variable frame
rate stays variable; 90 kHz clock); the audio track is not copied. The gauge in the
top-left corner is a small circumplex (valence right, arousal up) with the current point
and its recent trail, plus the two values as text.
"""

from __future__ import annotations

import os
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np

from vafusion.fileio import atomic_path
from vafusion.io.media import Video
from vafusion.predict.types import VideoPrediction

#: the overlay's timestamps are the source's (variable frame rate kept), on a 90 kHz clock
_TIME_BASE = Fraction(1, 90_000)

_COLORS = [(46, 204, 113), (52, 152, 219), (231, 76, 60), (241, 196, 15)]


def _gauge(img: np.ndarray, x0: int, y0: int, size: int, trail, va, label: str) -> None:
    import cv2

    overlay = img.copy()
    cv2.rectangle(overlay, (x0, y0), (x0 + size, y0 + size + 22), (20, 20, 20), -1)
    cv2.addWeighted(overlay, 0.55, img, 0.45, 0, dst=img)
    c = (x0 + size // 2, y0 + size // 2)
    r = size // 2 - 6
    cv2.circle(img, c, r, (200, 200, 200), 1, cv2.LINE_AA)
    cv2.line(img, (c[0] - r, c[1]), (c[0] + r, c[1]), (150, 150, 150), 1)
    cv2.line(img, (c[0], c[1] - r), (c[0], c[1] + r), (150, 150, 150), 1)

    def pt(v, a):
        return int(round(c[0] + v * r)), int(round(c[1] - a * r))

    pts = [pt(v, a) for v, a in trail]
    for p, q in zip(pts[:-1], pts[1:], strict=False):
        cv2.line(img, p, q, (120, 180, 255), 1, cv2.LINE_AA)
    if va is not None:
        cv2.circle(img, pt(*va), 5, (255, 80, 80), -1, cv2.LINE_AA)
        text = f"{label} V {va[0]:+.2f} A {va[1]:+.2f}"
    else:
        text = f"{label} no face"
    cv2.putText(
        img,
        text,
        (x0 + 4, y0 + size + 16),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.42,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )


def write_overlay(pred: VideoPrediction, path: str | os.PathLike, max_side: int = 1280) -> Path:
    """Write the overlay MP4 of a prediction (atomically).

    Parameters
    ----------
    pred : VideoPrediction
    path : path
        Output ``.mp4``.
    max_side : int
        Frames larger than this are downscaled.

    Returns
    -------
    Path
    """
    import av
    import cv2

    path = Path(path)
    fps = Fraction(pred.info.fps).limit_denominator(1001)
    trails = [deque(maxlen=12) for _ in pred.faces]
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        stream = None
        for frame in Video(pred.info.path, max_side=max_side).frames():
            img = np.ascontiguousarray(frame.image)
            if stream is None:
                stream = out.add_stream("libx264", rate=fps)
                stream.codec_context.time_base = _TIME_BASE
                stream.width = img.shape[1] - img.shape[1] % 2
                stream.height = img.shape[0] - img.shape[0] % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "23", "preset": "veryfast"}
                size = max(90, min(160, img.shape[0] // 3))
            i = frame.index
            for k, fc in enumerate(pred.faces):
                if i >= len(fc.valid):
                    continue
                col = _COLORS[k % len(_COLORS)]
                va = None
                if fc.valid[i]:
                    va = (float(fc.va[i, 0]), float(fc.va[i, 1]))
                    trails[k].append(va)
                    b = fc.bbox[i] * frame.scale
                    if np.isfinite(b).all():
                        p0 = (int(b[0]), int(b[1]))
                        p1 = (int(b[2]), int(b[3]))
                        cv2.rectangle(img, p0, p1, col, 2, cv2.LINE_AA)
                label = f"face {fc.face_id}" if fc.face_id >= 0 else "face"
                _gauge(img, 8 + k * (size + 8), 8, size, trails[k], va, label)
            img = img[: stream.height, : stream.width]
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = int(round(frame.timestamp / _TIME_BASE)), _TIME_BASE
            for packet in stream.encode(vf):
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    return path
