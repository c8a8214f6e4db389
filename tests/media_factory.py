"""Build small real media files for tests with PyAV (real encoders, no mocks)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path,
    frames: list[np.ndarray] | np.ndarray,
    fps: float = 25.0,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    audio_start_s: float = 0.0,
    codec: str = "libx264",
    audio_codec: str = "pcm_s16le",
    rotation: int | None = None,
) -> Path:
    """Encode RGB ``frames`` (T, H, W, 3) uint8 and optional mono ``audio`` float32.

    ``audio_start_s`` delays the audio stream's first packet (an audio start offset).
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=rate)
        h, w = frames[0].shape[:2]
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p"
        if rotation is not None:
            vs.set_display_rotation(rotation)  # display matrix, degrees counter-clockwise
        astream = None
        if audio is not None:
            astream = out.add_stream(audio_codec, rate=sample_rate)
            astream.layout = "mono"
        for img in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), "rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if astream is not None:
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            fmt = "s16" if audio_codec.startswith("pcm") else "fltp"
            offset = int(round(audio_start_s * sample_rate))
            block = 1024
            for i in range(0, len(pcm), block):
                chunk = pcm[i : i + block]
                if fmt == "s16":
                    frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
                else:
                    data = (chunk.astype(np.float32) / 32767)[None, :]
                    frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = offset + i
                frame.time_base = Fraction(1, sample_rate)
                for pkt in astream.encode(frame):
                    out.mux(pkt)
            for pkt in astream.encode():
                out.mux(pkt)
    return path


def gradient_frames(n: int, height: int = 64, width: int = 96) -> np.ndarray:
    """``n`` distinct synthetic RGB frames (a moving gradient), shape (n, H, W, 3)."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        frames[i, ..., 0] = (x * 2 + i * 3) % 256
        frames[i, ..., 1] = (y * 3 + i * 5) % 256
        frames[i, ..., 2] = (i * 7) % 256
    return frames


def two_face_video(path: Path, clips_dir: Path, n_frames: int, blackout=(40, 46)) -> Path:
    """WolfgangLanger (left) and d18 (right, resized to 360x360) side by side, at 24 fps.

    The right face is blacked out for frames ``blackout[0] <= i < blackout[1]`` (a short
    occlusion). Real faces, so the face tracker is exercised on two people at once.
    """
    import cv2

    from vafusion.io.media import iter_frames

    left = iter_frames(clips_dir / "WolfgangLanger_Pexels.mp4")
    right = iter_frames(clips_dir / "d18.mp4")
    frames = []
    for i, (a, b) in enumerate(zip(left, right, strict=False)):
        if i >= n_frames:
            break
        r = cv2.resize(b.image, (360, 360))
        if blackout[0] <= i < blackout[1]:
            r = np.zeros_like(r)
        frames.append(np.hstack([a.image, r]))
    return write_video(path, np.stack(frames), fps=24)
