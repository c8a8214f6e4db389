"""Opening media files with PyAV: checked paths, one error type, safe stream access.

The low-level pieces :mod:`vafusion.io.media` (video) and :mod:`vafusion.io.audio` share:
opening a container with a :class:`~vafusion.errors.MediaError` naming the file, picking
the video stream, reading an audio stream's channel count without PyAV's double free, and
the zero of the video time axis.
"""

from __future__ import annotations

import os
from pathlib import Path

from vafusion.errors import MediaError


def check_media_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is a readable regular file, else a :class:`MediaError`."""
    from vafusion.fileio import check_input_file

    return check_input_file(path, MediaError, "media file")


def open_container(path: Path):
    """The file opened by PyAV (``av.container.InputContainer``); a MediaError if not."""
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a readable media file ({ffmpeg_reason(exc)})", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"cannot open: {exc}", path) from None


def ffmpeg_reason(exc: Exception) -> str:
    """The first clause of an FFmpeg error's message (one line for the user)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(";")[0].strip() or type(exc).__name__


def audio_channels(stream) -> int:
    """Channel count of an audio stream, made safe against a PyAV 18 double free.

    PyAV's ``AudioLayout`` shares (does not copy) the channel map of a *custom-order*
    layout and frees it when garbage-collected; FFmpeg frees it again with the codec
    context: "double free or corruption" aborts the process. QuickTime files whose
    ``chan`` atom describes e.g. 7.1 by a layout tag read as such a layout, so reading
    ``stream.channels`` / ``stream.layout``, or decoding (every decoded frame copies the
    layout), kills the process. Here the layout is read once, while the map is alive, and
    the codec context (not yet opened) is given an equivalent map-free layout of the same
    channel count *before* the borrowed object is freed: its one free is then the only
    one, and decoded frames carry the map-free layout. Hand-written because no PyAV
    release fixes it (18.1 is the pinned one).

    Returns
    -------
    int
        Number of channels (0 when unknown).
    """
    cc = stream.codec_context
    borrowed = cc.layout  # shares cc's channel map until the layout below replaces it
    n = int(borrowed.nb_channels)
    name = borrowed.name
    if cc.is_open:  # nothing decoded yet in vafusion's paths; never reached in practice
        return n
    # a standard name ("7.1", "stereo") or a channel count never needs a channel map
    # ("+"/"@" names can be custom-order); "Nc" is FFmpeg's default layout for N channels
    for candidate in (name, f"{n}c", f"{n} channels"):
        if "+" in candidate or "@" in candidate:
            continue
        try:
            cc.layout = candidate
            break
        except (ValueError, TypeError):
            continue
    del borrowed
    return n


#: FFmpeg "video" codecs that render text files as pictures (its tty/bintext demuxers
#: accept any .txt/.nfo/.asc file): a text file is not a video
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


def video_stream(container, path: Path):
    """The first video stream, set for threaded decoding; a MediaError without one (or
    for a text file FFmpeg renders as pictures)."""
    if not container.streams.video:
        raise MediaError("no video stream (audio-only or not a video file)", path)
    stream = container.streams.video[0]
    if stream.codec_context.name in _TEXT_CODECS:
        raise MediaError("not a video file (FFmpeg reads it as text)", path)
    stream.thread_type = "AUTO"
    return stream


def frame_time(frame, stream) -> float | None:
    """A decoded frame's presentation time in seconds (None without a timestamp)."""
    if frame.pts is None:
        return None
    return float(frame.pts * stream.time_base)


def first_video_time(container) -> float:
    """Presentation time of the first decoded video frame (the zero of the time axis)."""
    import av

    if not container.streams.video:
        return 0.0
    stream = container.streams.video[0]
    try:
        for frame in container.decode(stream):
            t = frame_time(frame, stream)
            if t is not None:
                container.seek(0)
                return t
            break
    except av.error.FFmpegError:
        pass
    container.seek(0)
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
