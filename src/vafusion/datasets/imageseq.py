"""Folders of numbered frame images (AFEW-VA clips) as a frame source.

The media layer reads video files only; an AFEW-VA clip is a folder ``00001.png ...``.
:func:`scan_images` mirrors :func:`vafusion.io.media.scan` (same ``VideoFrame`` objects,
same ``VideoInfo``; ``has_audio=False``; timestamps ``i / fps``), and :class:`ImageSequence`
is a :class:`~vafusion.io.media.FrameSource`, so every feature set works on such clips
(audio rows are all invalid: there is no audio).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vafusion.errors import MediaError
from vafusion.io.media import VideoFrame, VideoInfo

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Numbered image files of ``folder`` in frame order (``00001.png`` < ``00002.png``)."""
    folder = Path(folder)
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.stem.isdigit() and p.is_file()
    ]
    return sorted(files, key=lambda p: int(p.stem))


def is_image_sequence(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding numbered frame images (and no sub-folders)."""
    p = Path(path)
    if not p.is_dir():
        return False
    try:
        if any(c.is_dir() for c in p.iterdir()):
            return False
        return len(list_frames(p)) > 0
    except OSError:
        return False


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise MediaError("cannot read image", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def scan_images(
    folder: str | os.PathLike,
    on_frame: Callable[[VideoFrame], None] | None = None,
    *,
    fps: float = 25.0,
    max_side: int | None = None,
) -> tuple[VideoInfo, np.ndarray]:
    """Read a frame folder once (the image-sequence twin of :func:`~vafusion.io.media.scan`).

    Parameters
    ----------
    folder : str or PathLike
        Folder of numbered images; frame ``i`` (0-based) is the ``i``-th in numeric order.
    on_frame : callable, optional
        Called with each :class:`~vafusion.io.media.VideoFrame` (RGB uint8).
    fps : float, default 25
        AFEW-VA's rate; timestamps are ``i / fps``.
    max_side : int, optional
        Downscale so the longer side is at most this.

    Returns
    -------
    info : VideoInfo
        ``has_audio=False``, ``video_codec="image-sequence"``.
    timestamps : numpy.ndarray, shape (n_frames,), float64
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError("not a folder of frame images", folder)
    files = list_frames(folder)
    if not files:
        raise MediaError("no numbered frame images (00001.png ...)", folder)
    first = _read_rgb(files[0])
    h, w = first.shape[:2]
    scale = 1.0
    if max_side and max(h, w) > max_side:
        scale = max_side / max(h, w)
    if on_frame is not None:
        for i, f in enumerate(files):
            img = first if i == 0 else _read_rgb(f)
            if scale != 1.0:
                size = (max(2, round(img.shape[1] * scale)), max(2, round(img.shape[0] * scale)))
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            on_frame(VideoFrame(index=i, timestamp=i / fps, image=img, scale=scale))
    n = len(files)
    info = VideoInfo(
        path=str(folder),
        n_frames=n,
        fps=float(fps),
        duration_s=n / fps,
        width=int(w),
        height=int(h),
        rotation=0,
        video_codec="image-sequence",
        has_audio=False,
        audio_sample_rate=None,
        container_n_frames=n,
    )
    return info, np.arange(n, dtype=np.float64) / fps


class ImageSequence:
    """A folder of numbered frame images as a frame source for
    :meth:`vafusion.extraction.Pipeline.process` (no audio).

    Parameters
    ----------
    folder : str or PathLike
    fps : float, default 25
        AFEW-VA's rate; timestamps are ``i / fps``.
    max_side : int, optional
        Downscale so the longer side is at most this.
    """

    def __init__(
        self, folder: str | os.PathLike, *, fps: float = 25.0, max_side: int | None = None
    ) -> None:
        self.path = str(folder)
        self.fps = fps
        self.max_side = max_side

    def scan(
        self, on_frame: Callable[[VideoFrame], None] | None = None
    ) -> tuple[VideoInfo, np.ndarray]:
        """Read every frame once (see :func:`scan_images`)."""
        return scan_images(self.path, on_frame, fps=self.fps, max_side=self.max_side)

    def audio(self, sample_rate: int = 16_000, duration_s: float | None = None) -> None:
        """A folder of images has no audio."""
        return None
