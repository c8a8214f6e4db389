"""Decode video and audio with PyAV (FFmpeg's libraries, no ffmpeg binary needed).

Time axis
---------
Every timestamp in vafusion is in seconds on the *video time axis*: 0 is the presentation
time of the first decoded video frame. Frame timestamps come from the decoded frames'
presentation timestamps (variable frame rate is honoured, ``index / fps`` is never used
when a timestamp exists). Audio is placed on the same axis, so an audio stream that starts
later than the video (common in QuickTime files) is shifted, not silently misaligned.

Memory
------
:func:`iter_frames` streams: it holds one decoded frame at a time. :func:`probe` decodes
the whole video once to count the frames that really decode (the container's count is a
guess that can be wrong by several frames) without keeping them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from vafusion.errors import MediaError
from vafusion.io.container import (
    audio_channels,
    check_media_path,
    ffmpeg_reason,
    first_video_time,
    frame_time,
    open_container,
    video_stream,
)
from vafusion.io.types import (  # noqa: F401 - re-exported: the decoder's public types
    DEFAULT_AUDIO_RATE,
    AudioSignal,
    VideoFrame,
    VideoInfo,
)
from vafusion.log import get_logger

log = get_logger("media")


def _rotation_of(frame) -> int:
    """Display rotation of a decoded frame in degrees CCW, normalised to 0/90/180/270."""
    rot = getattr(frame, "rotation", 0) or 0
    return int(round(rot / 90.0)) * 90 % 360


def _apply_rotation(image: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 0:
        return image
    # FFmpeg's display matrix angle is counter-clockwise: rotate the pixels to display.
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90))


def _to_video_frame(frame, index: int, t: float, size: tuple[int, int, float]) -> VideoFrame:
    w, h, scale = size
    if scale != 1.0:  # scale inside swscale: never materialise the full-size RGB array
        image = frame.to_ndarray(format="rgb24", width=w, height=h)
    else:
        image = frame.to_ndarray(format="rgb24")
    image = _apply_rotation(image, _rotation_of(frame))
    return VideoFrame(index=index, timestamp=t, image=image, scale=scale)


def frame_to_rgb(frame, max_side: int | None = None) -> tuple[np.ndarray, float]:
    """A decoded PyAV video frame as the RGB pixels every vafusion frame has.

    Parameters
    ----------
    frame : av.VideoFrame
    max_side : int, optional
        Downscaled in FFmpeg's scaler so that the longer side is at most this.

    Returns
    -------
    image : numpy.ndarray, shape (H, W, 3), uint8
        RGB, display rotation applied.
    scale : float
        Image size / original frame size.
    """
    w, h, scale = _target_size(frame.width, frame.height, max_side)
    image = frame.to_ndarray(format="rgb24", width=w, height=h)
    return _apply_rotation(image, _rotation_of(frame)), scale


class _Timeline:
    """Turns decoded frames' pts into increasing seconds on the video time axis."""

    def __init__(self, stream, fps_hint: float | None = None) -> None:
        self.stream = stream
        self.rate = float(stream.average_rate) if stream.average_rate else (fps_hint or 25.0)
        # raw elementary streams (.h264, .hevc) have no timestamps and FFmpeg's demuxer
        # reports a default 25 fps; the rate coded in the bitstream (SPS/VUI) is better
        coded = getattr(stream.codec_context, "framerate", None)
        self.coded_rate = float(coded) if coded else None
        self.missing_pts = 0
        self.t0: float | None = None
        self.prev = -1.0 / self.rate

    def __call__(self, frame) -> float:
        t_abs = frame_time(frame, self.stream)
        if t_abs is None:
            if self.missing_pts == 0 and self.t0 is None and self.coded_rate:
                self.rate = self.coded_rate
                self.prev = -1.0 / self.rate
            self.missing_pts += 1
        if self.t0 is None:
            self.t0 = t_abs if t_abs is not None else 0.0
        t = (t_abs - self.t0) if t_abs is not None else self.prev + 1.0 / self.rate
        if t <= self.prev:  # broken/duplicate pts: keep timestamps strictly increasing
            t = self.prev + 1e-6
        self.prev = t
        return t


def scan(
    path: str | os.PathLike,
    on_frame: Callable[[VideoFrame], None] | None = None,
    *,
    max_side: int | None = None,
    start_s: float | None = None,
    stop_s: float | None = None,
) -> tuple[VideoInfo, np.ndarray]:
    """Decode the video once for its info and frame times (the single decode pass).

    Parameters
    ----------
    path : str or PathLike
        A video file in any container/codec FFmpeg reads.
    on_frame : callable, optional
        Called with each :class:`VideoFrame` (RGB, rotated, downscaled to ``max_side``).
        Without it no pixel conversion is done, which makes counting fast.
    max_side : int, optional
        See :func:`iter_frames`.
    start_s, stop_s : float, optional
        Decode only the frames whose time on the video time axis is in ``[start_s,
        stop_s)`` (seconds): the decoder seeks to the keyframe at or before ``start_s``
        and frames before ``start_s`` are decoded but not converted. Times stay on the
        whole video's axis; ``VideoFrame.index`` counts from 0 at the first frame of the
        range, and ``info`` describes the range (``n_frames``, ``duration_s``, ``fps``).

    Returns
    -------
    info : VideoInfo
    timestamps : numpy.ndarray, shape (n_frames,), float64
        Presentation time of every decodable frame (of the range) on the video time axis.

    Raises
    ------
    MediaError
        If the file is missing, empty, unreadable, not media, has no video stream or no
        decodable frame.
    """
    import av

    p = check_media_path(path)
    with open_container(p) as container:
        stream = video_stream(container, p)
        audio = container.streams.audio[0] if container.streams.audio else None
        timeline = _Timeline(stream)
        ranged = start_s is not None or stop_s is not None
        lo = -math.inf if start_s is None else start_s
        hi = math.inf if stop_s is None else stop_s
        if ranged:
            _seek_to(container, stream, timeline, lo)
        times: list[float] = []
        errors = 0
        rotation = 0
        width = height = 0
        try:
            for frame in container.decode(stream):
                t = timeline(frame)
                if t < lo:
                    continue
                if t >= hi:
                    break
                if not times:
                    rotation = _rotation_of(frame)
                    width, height = frame.width, frame.height
                    size = _target_size(width, height, max_side)
                if on_frame is not None:
                    on_frame(_to_video_frame(frame, len(times), t, size))
                times.append(t)
        except av.error.FFmpegError as exc:
            errors += 1
            log.warning(
                "%s: decoding stopped after %d frames (%s)", p, len(times), ffmpeg_reason(exc)
            )
        n = len(times)
        if n == 0:
            where = f" in [{lo:.3f}, {hi:.3f}) s" if ranged else ""
            raise MediaError(f"no decodable video frames{where}", p)
        declared = int(stream.frames or 0)
        if not ranged and declared - n > max(5, 0.02 * declared):
            errors += 1
            log.warning(
                "%s: the container declares %d frames but only %d decode "
                "(truncated or damaged file?); using the %d decodable frames",
                p,
                declared,
                n,
                n,
            )
        rate = float(stream.average_rate) if stream.average_rate else 0.0
        if timeline.missing_pts == n:
            rate = timeline.rate
            log.warning(
                "%s: the frames carry no timestamps (raw stream?); assuming %.3f fps",
                p,
                rate,
            )
        span = times[-1] - times[0]
        if n > 1 and span > 0:
            measured = (n - 1) / span
            fps = measured if rate <= 0 or abs(measured - rate) / rate > 0.01 else rate
        else:
            fps = rate if rate > 0 else 25.0
        if rotation in (90, 270):
            width, height = height, width
        audio_offset = None
        if audio is not None and timeline.t0 is not None:
            a_start = (
                float(audio.start_time * audio.time_base)
                if audio.start_time is not None
                else timeline.t0
            )
            audio_offset = a_start - timeline.t0
        info = VideoInfo(
            path=str(p),
            n_frames=n,
            fps=fps,
            duration_s=span + 1.0 / fps,
            width=width,
            height=height,
            rotation=rotation,
            video_codec=stream.codec_context.name,
            has_audio=audio is not None,
            audio_sample_rate=int(audio.rate) if audio is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_channels=audio_channels(audio) if audio is not None else None,
            audio_offset_s=audio_offset,
            container_n_frames=declared,
            decode_errors=errors,
        )
        return info, np.asarray(times, dtype=np.float64)


def _seek_to(container, stream, timeline: _Timeline, start_s: float) -> None:
    """Position the demuxer at the keyframe at or before ``start_s`` (video time axis).

    Fixes ``timeline``'s zero at the first frame of the whole video first, so the frames
    decoded after the seek get their times on the whole video's axis. Falls back to the
    start of the file when the container cannot seek that precisely (decoding from 0 and
    skipping is slower but exact).
    """
    import av

    t0 = first_video_time(container)
    timeline.t0 = t0
    if start_s <= 0 or not math.isfinite(start_s):
        return
    target = int(math.floor((t0 + start_s) / stream.time_base))
    landed = False
    try:
        container.seek(target, backward=True, any_frame=False, stream=stream)
        # where did it land? the first frame must not lie after start_s
        for frame in container.decode(stream):
            t = frame_time(frame, stream)
            landed = t is not None and t - t0 <= start_s
            break
    except av.error.FFmpegError:
        landed = False
    if landed:
        container.seek(target, backward=True, any_frame=False, stream=stream)
    else:
        container.seek(0)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Inspect a media file and count the video frames that really decode.

    See :func:`scan`, which this calls; the frame times are discarded.
    """
    return scan(path)[0]


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int, float]:
    if not max_side or max(width, height) <= max_side:
        return width, height, 1.0
    scale = max_side / max(width, height)
    # even sizes keep swscale's chroma handling exact
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h, scale


def iter_frames(
    path: str | os.PathLike, *, max_side: int | None = None, fps_hint: float | None = None
) -> Iterator[VideoFrame]:
    """Decode video frames one at a time (streaming; memory does not grow with length).

    Parameters
    ----------
    path : str or PathLike
        The video file.
    max_side : int, optional
        Downscale (in FFmpeg's scaler, before conversion to RGB) so that the longer side
        is at most this many pixels: a 4K video never materialises 4K RGB arrays.
    fps_hint : float, optional
        Used only to fill in a timestamp for a frame that has none.

    Yields
    ------
    VideoFrame
        ``image`` is an (H, W, 3) uint8 RGB array with rotation applied.

    Raises
    ------
    MediaError
        If the file cannot be opened or has no video stream. A decode error after some
        frames (truncated file) ends the iteration with a warning instead.
    """
    import av

    p = check_media_path(path)
    with open_container(p) as container:
        stream = video_stream(container, p)
        timeline = _Timeline(stream, fps_hint)
        index = 0
        size: tuple[int, int, float] | None = None
        try:
            for frame in container.decode(stream):
                t = timeline(frame)
                if size is None:
                    size = _target_size(frame.width, frame.height, max_side)
                yield _to_video_frame(frame, index, t, size)
                index += 1
        except av.error.FFmpegError as exc:
            if index == 0:
                raise MediaError(f"no decodable video frames ({ffmpeg_reason(exc)})", p) from None
            log.warning("%s: decoding stopped after %d frames (%s)", p, index, ffmpeg_reason(exc))
        if index == 0:
            raise MediaError("no decodable video frames", p)


def keyframe_times(path: str | os.PathLike) -> tuple[np.ndarray, int, float]:
    """Times of the video's keyframes, found by demuxing packets without decoding them.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    times : numpy.ndarray, shape (K,), float64
        Sorted presentation times of the keyframes on the video time axis (where
        :func:`scan` with ``start_s`` at one of them starts decoding without waste).
        Empty when packets carry no timestamps (e.g. a raw elementary stream).
    n_packets : int
        Number of video packets with data (about the number of frames).
    end_s : float
        Time of the last packet on the video time axis (about the duration).

    Raises
    ------
    MediaError
        If the file cannot be opened or has no video stream.
    """
    import av

    p = check_media_path(path)
    with open_container(p) as container:
        stream = video_stream(container, p)
        t0 = first_video_time(container)
        times: list[float] = []
        n = 0
        end = 0
        missing = False
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                n += 1
                if packet.pts is None:
                    missing = True
                    continue
                end = max(end, packet.pts)
                if packet.is_keyframe:
                    times.append(float(packet.pts * stream.time_base) - t0)
        except av.error.FFmpegError as exc:
            log.warning("%s: demuxing stopped after %d packets (%s)", p, n, ffmpeg_reason(exc))
        end_s = float(end * stream.time_base) - t0
    if missing:
        return np.zeros(0, np.float64), n, end_s
    return np.unique(np.asarray(times, np.float64)), n, end_s


class FrameSource(Protocol):
    """Where a decode pass reads frames from: a :class:`Video` or a folder of images.

    Attributes
    ----------
    path : str
        The file or folder (for messages and store names).
    """

    path: str

    def scan(
        self, on_frame: Callable[[VideoFrame], None] | None = None
    ) -> tuple[VideoInfo, np.ndarray]:
        """Decode every frame once (see :func:`scan`)."""
        ...

    def audio(
        self, sample_rate: int = DEFAULT_AUDIO_RATE, duration_s: float | None = None
    ) -> AudioSignal | None:
        """Mono audio on the video time axis, None without audio.

        See :func:`vafusion.io.audio.load_audio`.
        """
        ...


class Video:
    """A media file read with PyAV, on the one video time axis (see the module docstring).

    Parameters
    ----------
    path : str or PathLike
    max_side : int, optional
        Frames are downscaled in FFmpeg's scaler so their longer side is at most this.

    Examples
    --------
    >>> video = Video("clip.mp4", max_side=1280)  # doctest: +SKIP
    >>> info, timestamps = video.scan()  # doctest: +SKIP
    >>> audio = video.audio(16_000, duration_s=info.duration_s)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, max_side: int | None = None) -> None:
        self.path = str(path)
        self.max_side = max_side

    def __repr__(self) -> str:
        return f"Video({self.path!r}, max_side={self.max_side})"

    def scan(
        self, on_frame: Callable[[VideoFrame], None] | None = None
    ) -> tuple[VideoInfo, np.ndarray]:
        """Decode every frame once: ``(info, timestamps)``, frames to ``on_frame``."""
        return scan(self.path, on_frame, max_side=self.max_side)

    def frames(self) -> Iterator[VideoFrame]:
        """Decoded frames one at a time (see :func:`iter_frames`)."""
        return iter_frames(self.path, max_side=self.max_side)

    def probe(self) -> VideoInfo:
        """See :func:`probe`."""
        return probe(self.path)

    def audio(
        self, sample_rate: int = DEFAULT_AUDIO_RATE, duration_s: float | None = None
    ) -> AudioSignal | None:
        """See :func:`vafusion.io.audio.load_audio`."""
        from vafusion.io.audio import load_audio

        return load_audio(self.path, sample_rate, duration_s=duration_s)

    def grab(self, times: list[float], max_side: int = 640) -> dict:
        """A few frames by time, by seeking (see :func:`vafusion.io.grab.grab_frames`)."""
        from vafusion.io.grab import grab_frames

        return grab_frames(self.path, times, max_side)
