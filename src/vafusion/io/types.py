"""The decoder's data types: what a video is, one decoded frame, mono audio on the video
time axis (see :mod:`vafusion.io.media` for the time axis)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Sample rate (Hz) audio is decoded at unless a caller asks otherwise.
DEFAULT_AUDIO_RATE = 16_000


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a media file.

    Attributes
    ----------
    path : str
        The file.
    n_frames : int
        Number of video frames that actually decode.
    fps : float
        Average frame rate (frames / duration of the decoded frames when they disagree
        with the container's rate by more than 1%).
    duration_s : float
        Duration of the video stream in seconds (last timestamp + one frame period).
    width, height : int
        Size of the frames as delivered by :func:`iter_frames` (after rotation).
    rotation : int
        Display rotation from the container's metadata, degrees counter-clockwise
        (0, 90, 180 or 270); frames are already rotated by :func:`iter_frames`.
    video_codec : str
    has_audio : bool
    audio_sample_rate : int or None
        Native sample rate of the first audio stream.
    audio_codec : str or None
    audio_channels : int or None
    audio_offset_s : float or None
        Start of the audio stream on the video time axis (positive: audio starts later).
    container_n_frames : int
        The container's own frame count (0 when unknown), for diagnostics.
    decode_errors : int
        Number of decode problems met while counting (a decode error, or far fewer frames
        than the container declares, as in a truncated file).
    """

    path: str
    n_frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    rotation: int
    video_codec: str
    has_audio: bool
    audio_sample_rate: int | None
    audio_codec: str | None = None
    audio_channels: int | None = None
    audio_offset_s: float | None = None
    container_n_frames: int = 0
    decode_errors: int = 0

    def to_dict(self) -> dict:
        """JSON-compatible dict of all attributes."""
        return asdict(self)


@dataclass
class VideoFrame:
    """One decoded frame.

    Attributes
    ----------
    index : int
        0-based index among decoded frames.
    timestamp : float
        Presentation time, seconds on the video time axis.
    image : numpy.ndarray, shape (H, W, 3), uint8
        RGB pixels, rotation applied, possibly downscaled (see ``max_side``).
    scale : float
        ``image`` size / original (rotated) frame size; 1.0 when not downscaled.
    """

    index: int
    timestamp: float
    image: np.ndarray
    scale: float = 1.0


@dataclass
class AudioSignal:
    """Mono audio on the video time axis.

    Attributes
    ----------
    samples : numpy.ndarray, shape (n_samples,), float32
        Sample ``k`` is at time ``k / sample_rate`` on the video time axis; spans before the
        audio stream starts (or after it ends) are zeros and lie outside ``[start_s, end_s)``.
    sample_rate : int
    start_s, end_s : float
        The span of real audio on the video time axis.
    """

    samples: np.ndarray
    sample_rate: int
    start_s: float
    end_s: float
