"""Decode an audio track as mono float32 on the video time axis (PyAV, FFmpeg's resampler)."""

from __future__ import annotations

import math
import os

import numpy as np

from vafusion.io.container import (
    audio_channels,
    check_media_path,
    ffmpeg_reason,
    first_video_time,
    open_container,
)
from vafusion.io.media import DEFAULT_AUDIO_RATE, AudioSignal
from vafusion.log import get_logger

log = get_logger("media")


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = DEFAULT_AUDIO_RATE,
    *,
    duration_s: float | None = None,
) -> AudioSignal | None:
    """Decode the first audio stream as mono float32 on the video time axis.

    Parameters
    ----------
    path : str or PathLike
        The media file.
    sample_rate : int, default 16000
        Output rate; FFmpeg's resampler does the conversion and the down-mix.
    duration_s : float, optional
        Pad with zeros (or cut) to this length, e.g. the video's duration.

    Returns
    -------
    AudioSignal or None
        None when the file has no audio stream.
    """
    import av

    p = check_media_path(path)
    with open_container(p) as container:
        if not container.streams.audio:
            return None
        video_t0 = first_video_time(container)
        astream = container.streams.audio[0]
        audio_channels(astream)  # before decoding: see there (a PyAV double free)
        astream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        first_t: float | None = None
        try:
            for frame in container.decode(astream):
                if first_t is None:
                    first_t = (
                        float(frame.pts * astream.time_base)
                        if frame.pts is not None
                        else (
                            float(astream.start_time * astream.time_base)
                            if astream.start_time is not None
                            else video_t0
                        )
                    )
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            log.warning("%s: audio decoding stopped early (%s)", p, ffmpeg_reason(exc))
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    offset = (first_t if first_t is not None else video_t0) - video_t0
    shift = int(round(offset * sample_rate))
    if shift > 0:
        data = np.concatenate([np.zeros(shift, np.float32), data])
    elif shift < 0:
        data = data[-shift:]
    start_s = max(offset, 0.0)
    end_s = max(start_s, start_s + (len(data) - max(shift, 0)) / sample_rate)
    if duration_s is not None:
        n = int(math.ceil(duration_s * sample_rate))
        data = data[:n] if len(data) >= n else np.pad(data, (0, n - len(data)))
        end_s = min(end_s, duration_s)
    return AudioSignal(samples=data, sample_rate=sample_rate, start_s=start_s, end_s=end_s)
