"""Input/output: media decoding (PyAV)."""

from vafusion.io.media import (
    AudioSignal,
    VideoFrame,
    VideoInfo,
    iter_frames,
    load_audio,
    probe,
    scan,
)

__all__ = ["AudioSignal", "VideoFrame", "VideoInfo", "iter_frames", "load_audio", "probe", "scan"]
