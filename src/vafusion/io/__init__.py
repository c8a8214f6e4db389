"""Input/output: media decoding (PyAV). :class:`Video` is the one decoder."""

from vafusion.io.audio import load_audio
from vafusion.io.media import (
    AudioSignal,
    FrameSource,
    Video,
    VideoFrame,
    VideoInfo,
    iter_frames,
    probe,
    scan,
)

__all__ = [
    "AudioSignal",
    "FrameSource",
    "Video",
    "VideoFrame",
    "VideoInfo",
    "iter_frames",
    "load_audio",
    "probe",
    "scan",
]
