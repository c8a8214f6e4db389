"""Face thumbnails for reports: a square crop around a face box, JPEG-encoded.

The frames themselves are fetched by :func:`vafusion.io.grab.grab_frames`.
"""

from __future__ import annotations

import numpy as np


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
