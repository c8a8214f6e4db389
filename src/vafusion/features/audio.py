"""The paper's audio features: 40 MFCC + 128 mel bands per video frame (168-d).

Segmentation (the paper: "audio signal is split into N overlapping segments where N
corresponds to the number of frames in video; the overlap is kept equal to one-half
split")
    Frame ``i`` at time ``t_i`` owns the audio segment ``[t_i - h_i, t_i + h_i)`` where
    ``h_i`` is the local frame period (``(t_{i+1} - t_{i-1}) / 2``; the neighbouring
    difference at the ends). Each segment spans two frame periods centred on its frame, so
    consecutive segments overlap by one half. Variable frame rate is honoured because the
    decoded timestamps are used, not ``i / fps``.

Spectral analysis (librosa; defaults in :class:`AudioConfig`)
    A mel power spectrogram is computed on a fine grid (``n_fft=512`` = 32 ms Hann window,
    ``hop_length=160`` = 10 ms at 16 kHz, 128 mel bands 0-8 kHz, Slaney mel filters,
    ``center=True`` with zero padding at the signal edges, as ``librosa.stft`` does), turned
    and the columns whose centres fall inside frame ``i``'s segment are averaged:
    ``audio_mel_*`` is the segment's mean mel power in decibels
    (``10 log10(max(mean, 1e-10))``, no ``top_db`` clipping; ``log_mel=False`` keeps linear
    power), i.e. what averaging ``librosa.feature.melspectrogram`` over the segment gives.
    ``audio_mfcc_*`` is the mean of the per-column MFCCs (librosa: DCT-II, orthonormal, of
    the dB mel column), i.e. what averaging ``librosa.feature.mfcc`` over the segment gives.
    If no column centre falls inside a (very short) segment, the nearest column is used.

Validity
    ``audio_valid`` is 0 and the values NaN where less than ``min_coverage`` of the
    segment lies on real audio (no audio stream, audio starting late or ending early).

Why 16 kHz: speech and vocal affect cues lie below 8 kHz; 16 kHz halves the work of 32 kHz+
and is the rate most speech-emotion models expect. Change it with ``sample_rate``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vafusion.config import config_to_dict
from vafusion.errors import ConfigError
from vafusion.features.base import Accumulator, FeatureSet, FeatureTable
from vafusion.io.media import AudioSignal, FrameSource, VideoInfo
from vafusion.log import get_logger

log = get_logger("audio")


def import_librosa():
    """Import librosa with numba's cache in a folder that always exists and is writable.

    numba caches librosa's compiled functions next to librosa's files, else in the user's
    home cache; a service user with neither writable (read-only site-packages, no HOME)
    gets "cannot cache function ... no locator available". Unless the user set
    ``NUMBA_CACHE_DIR``, it is set (before numba is first imported) to a per-user folder
    under the system's temporary folder.
    """
    folder = Path(tempfile.gettempdir()) / f"vafusion-numba-cache-{os.getuid()}"
    given = os.environ.get("NUMBA_CACHE_DIR")
    # a folder of ours set for another user (inherited from a parent process that ran as
    # that user, e.g. root starting a service user's job) is not the user's choice
    inherited = given is not None and Path(given).name.startswith("vafusion-numba-cache-")
    if (given is None or (inherited and Path(given) != folder)) and "numba" not in sys.modules:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
        except OSError:  # leave numba's own choice
            pass
    import librosa

    return librosa


#: Video frames processed per block (bounds memory for long videos).
_BLOCK_FRAMES = 2048


@dataclass(frozen=True)
class AudioConfig:
    """Audio feature settings; defaults reproduce the paper (40 MFCC + 128 mel = 168-d).

    Attributes
    ----------
    sample_rate : int
        Resampling rate in Hz.
    n_mfcc : int
        Number of MFCCs.
    n_mels : int
        Number of mel bands.
    n_fft : int
        STFT window length in samples (Hann window).
    hop_length : int
        STFT hop in samples (the averaging grid inside a frame's segment).
    fmin, fmax : float
        Mel filter-bank range in Hz; ``fmax <= 0`` means ``sample_rate / 2``.
    segment_periods : float
        Segment length in frame periods (2.0 = the paper's one-half overlap).
    log_mel : bool
        Report mel bands in dB (True) or as linear power (False). MFCCs always use dB.
    min_coverage : float
        Minimum share of a segment on real audio for the row to be valid.
    """

    sample_rate: int = 16_000
    n_mfcc: int = 40
    n_mels: int = 128
    n_fft: int = 512
    hop_length: int = 160
    fmin: float = 0.0
    fmax: float = 0.0
    segment_periods: float = 2.0
    log_mel: bool = True
    min_coverage: float = 0.5

    def __post_init__(self) -> None:
        if self.sample_rate < 1000:
            raise ConfigError(f"audio.sample_rate must be >= 1000 Hz, got {self.sample_rate}")
        if not 0 < self.n_mfcc <= self.n_mels:
            raise ConfigError("audio.n_mfcc must be in 1..n_mels")
        if self.hop_length <= 0 or self.n_fft <= 0:
            raise ConfigError("audio.n_fft and audio.hop_length must be positive")
        if self.segment_periods <= 0:
            raise ConfigError("audio.segment_periods must be positive")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError("audio.min_coverage must be in [0, 1]")


def audio_columns(config: AudioConfig = AudioConfig()) -> list[str]:
    """Column names: ``audio_mfcc_0..{n_mfcc-1}`` then ``audio_mel_0..{n_mels-1}``."""
    return [f"audio_mfcc_{i}" for i in range(config.n_mfcc)] + [
        f"audio_mel_{i}" for i in range(config.n_mels)
    ]


def segment_bounds(
    timestamps: np.ndarray, segment_periods: float = 2.0, fps: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Audio segment of each video frame.

    Parameters
    ----------
    timestamps : numpy.ndarray, shape (N,)
        Frame times in seconds (strictly increasing).
    segment_periods : float
        Segment length in local frame periods (2.0: one-half overlap between neighbours).
    fps : float, optional
        Frame rate giving the period of a one-frame video (default 25 fps).

    Returns
    -------
    start, end : numpy.ndarray, shape (N,)
        Segment ``i`` is ``[start[i], end[i])``, centred on ``timestamps[i]``.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    n = len(t)
    if n == 0:
        return t.copy(), t.copy()
    if n == 1:  # a one-frame video: its frame period from the stream's rate
        period = np.array([1.0 / (fps if fps and fps > 0 else 25.0)])
    else:
        d = np.diff(t)
        period = np.empty(n)
        period[0] = d[0]
        period[-1] = d[-1]
        period[1:-1] = (d[:-1] + d[1:]) / 2.0
    half = period * segment_periods / 2.0
    return t - half, t + half


def audio_coverage(start: np.ndarray, end: np.ndarray, audio: AudioSignal) -> np.ndarray:
    """Share of each segment ``[start, end)`` that lies on real audio, shape (N,)."""
    overlap = np.clip(np.minimum(end, audio.end_s) - np.maximum(start, audio.start_s), 0, None)
    return overlap / np.maximum(end - start, 1e-12)


def column_ranges(
    t: np.ndarray, start: np.ndarray, end: np.ndarray, columns_per_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Analysis columns (centred at ``k / columns_per_s``) inside each frame's segment.

    Returns
    -------
    k_start, k_end : numpy.ndarray, shape (N,), int64
        Frame ``i`` averages columns ``k_start[i] <= k < k_end[i]`` (never empty: the
        column nearest to ``t[i]`` when no centre falls inside a very short segment).
    """
    k_start = np.ceil(start * columns_per_s - 1e-9).astype(np.int64)
    k_end = np.ceil(end * columns_per_s - 1e-9).astype(np.int64)
    nearest = np.round(t * columns_per_s).astype(np.int64)
    empty = k_end <= k_start
    k_start = np.maximum(np.where(empty, nearest, k_start), 0)
    k_end = np.maximum(np.where(empty, nearest + 1, k_end), k_start + 1)
    return k_start, k_end


def _mel_power_columns(
    samples: np.ndarray, k_lo: int, k_hi: int, config: AudioConfig, mel_basis: np.ndarray
) -> np.ndarray:
    """Mel power spectrogram columns ``k_lo..k_hi-1`` of the whole (virtually centred) signal.

    Column ``k`` is centred on sample ``k * hop``; samples outside the signal are zeros,
    which is what ``librosa.stft(center=True, pad_mode="constant")`` does. Returns
    (n_mels, k_hi - k_lo).
    """
    librosa = import_librosa()

    hop, n_fft = config.hop_length, config.n_fft
    first = k_lo * hop - n_fft // 2
    last = (k_hi - 1) * hop - n_fft // 2 + n_fft
    lo, hi = max(first, 0), min(last, len(samples))
    seg = samples[lo:hi]
    seg = np.pad(seg, (lo - first, last - hi))
    spec = np.abs(librosa.stft(seg, n_fft=n_fft, hop_length=hop, window="hann", center=False)) ** 2
    return mel_basis @ spec


def segment_means(columns: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean of ``columns[:, a[j]:b[j]]`` for every j; (n_rows, K) -> (n_rows, len(a))."""
    csum = np.zeros((columns.shape[0], columns.shape[1] + 1), dtype=np.float64)
    np.cumsum(columns, axis=1, out=csum[:, 1:])
    return (csum[:, b] - csum[:, a]) / (b - a)


def compute_audio_features(
    audio: AudioSignal | None,
    timestamps: np.ndarray,
    config: AudioConfig = AudioConfig(),
    fps: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame MFCC + mel features from a decoded signal.

    Parameters
    ----------
    audio : AudioSignal or None
        Mono signal on the video time axis (None: no audio stream).
    timestamps : numpy.ndarray, shape (N,)
        Video frame times in seconds.
    config : AudioConfig
    fps : float, optional
        The video's frame rate; only used for a one-frame video (no neighbour to measure
        the frame period from).

    Returns
    -------
    values : numpy.ndarray, shape (N, n_mfcc + n_mels), float32
        NaN on invalid rows.
    valid : numpy.ndarray, shape (N,), bool
    """
    librosa = import_librosa()

    t = np.asarray(timestamps, dtype=np.float64)
    n = len(t)
    dim = config.n_mfcc + config.n_mels
    values = np.full((n, dim), np.nan, dtype=np.float32)
    if audio is None or n == 0 or audio.end_s <= audio.start_s:
        return values, np.zeros(n, dtype=bool)
    if audio.sample_rate != config.sample_rate:
        raise ConfigError(
            f"audio signal is at {audio.sample_rate} Hz, config expects {config.sample_rate}"
        )
    start, end = segment_bounds(t, config.segment_periods, fps)
    valid = audio_coverage(start, end, audio) >= config.min_coverage - 1e-9
    sr, hop = config.sample_rate, config.hop_length
    k_start, k_end = column_ranges(t, start, end, sr / hop)
    fmax = config.fmax if config.fmax > 0 else sr / 2.0
    mel_basis = librosa.filters.mel(
        sr=sr, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=fmax
    )
    for b0 in range(0, n, _BLOCK_FRAMES):
        b1 = min(n, b0 + _BLOCK_FRAMES)
        rows = np.arange(b0, b1)[valid[b0:b1]]
        if len(rows) == 0:
            continue
        k_lo, k_hi = int(k_start[rows].min()), int(k_end[rows].max())
        power = _mel_power_columns(audio.samples, k_lo, k_hi, config, mel_basis)
        a, b = k_start[rows] - k_lo, k_end[rows] - k_lo
        # mean over the columns of each segment via cumulative sums (float64 for accuracy)
        mean_power = segment_means(power, a, b)  # (n_mels, rows)
        db = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)
        mean_db = segment_means(db, a, b)
        # mean of per-column MFCCs == MFCC of the mean dB column (the DCT is linear)
        mfcc = librosa.feature.mfcc(S=mean_db, n_mfcc=config.n_mfcc)  # (n_mfcc, rows)
        if config.log_mel:
            mel_out = librosa.power_to_db(mean_power, ref=1.0, amin=1e-10, top_db=None)
        else:
            mel_out = mean_power
        values[rows, : config.n_mfcc] = mfcc.T
        values[rows, config.n_mfcc :] = mel_out.T
    return values, valid


class SegmentAudioSet(FeatureSet):
    """Shared driver of the per-frame audio feature sets (``audio``, ``egemaps``).

    Subclasses set ``name`` and ``config_class`` (a config with a ``sample_rate``) and
    implement ``columns`` and :meth:`compute_from_signal`; this class decodes the audio on
    the video time axis, warns about missing audio and packages the :class:`FeatureTable`.
    Stateless: one instance serves every video and thread.
    """

    def compute_from_signal(
        self, audio: AudioSignal | None, timestamps: np.ndarray, fps: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame ``values`` (N, D) float32 (NaN where invalid) and ``valid`` (N,)."""
        raise NotImplementedError

    def accumulator(self, source: FrameSource) -> Accumulator:
        """Audio needs no frame: the accumulator only finishes (see :meth:`compute`)."""
        return _SignalAccumulator(self, source)

    def compute(self, source: FrameSource, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """Features for a video whose frame times are already known (one decode pass)."""
        audio = None
        if info.has_audio:
            audio = source.audio(self.config.sample_rate, duration_s=info.duration_s)
        path = source.path
        if audio is None:
            log.warning("%s: no audio stream; %s features are marked invalid", path, self.name)
        values, valid = self.compute_from_signal(audio, timestamps, fps=info.fps)
        if audio is not None and not valid.all():
            log.warning(
                "%s: %d of %d frames have no audio under them (marked invalid)",
                path,
                int((~valid).sum()),
                len(valid),
            )
        return FeatureTable(
            name=self.name,
            frame=np.arange(len(timestamps)),
            timestamp=timestamps,
            values=values,
            columns=self.columns,
            valid=valid,
            meta={"config": config_to_dict(self.config), "has_audio": audio is not None},
        )


class _SignalAccumulator(Accumulator):
    def __init__(self, feature_set: SegmentAudioSet, source: FrameSource) -> None:
        self.feature_set = feature_set
        self.source = source

    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        return self.feature_set.compute(self.source, info, timestamps)


class AudioSet(SegmentAudioSet):
    """The ``audio`` feature set (paper: MFCC 40 + mel 128 per video frame).

    Parameters
    ----------
    config : AudioConfig, optional

    Examples
    --------
    >>> from vafusion.extraction import Pipeline
    >>> with Pipeline(features="audio") as pipe:  # doctest: +SKIP
    ...     table = pipe.process("clip.mp4")["audio"]
    >>> table.values.shape  # doctest: +SKIP
    (472, 168)
    """

    name = "audio"
    config_class = AudioConfig

    @property
    def columns(self) -> list[str]:
        """Output column names."""
        return audio_columns(self.config)

    def compute_from_signal(
        self, audio: AudioSignal | None, timestamps: np.ndarray, fps: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """See :func:`compute_audio_features`."""
        return compute_audio_features(audio, timestamps, self.config, fps=fps)
