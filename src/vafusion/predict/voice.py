"""Vocal arousal cues from an audio track (default model).

Analysis (16 kHz mono, 64 ms frames every 10 ms)
    ``f0``: YIN (65-500 Hz; NumPy, as ``librosa.yin`` computes it) in semitones re 27.5 Hz.
    ``voiced``: the frame's normalised autocorrelation at YIN's period is >= 0.6 and its
    level is within 35 dB of the recording's loudest frames (YIN returns a period for any
    frame; this keeps the periodic ones). ``level``: RMS in dBFS. ``hf_ratio``: energy of
    1-5 kHz over 50-1000 Hz in dB, the alpha ratio of Eyben et al. (2016) (sign: higher =
    more high-frequency energy = more vocal effort). pYIN was measured at ~1x real time
    here, YIN at ~50x, hence YIN plus the autocorrelation check.
    The audio is decoded at 16 kHz (FFmpeg's resampler, :func:`vafusion.io.audio.load_audio`).
Rows (:data:`VOICE_RATE_HZ` per second)
    Each row summarises the voiced frames of a window centred on it: ``f0_level`` (median
    semitones, 1 s), ``f0_range`` (80th minus 20th percentile, 2 s), ``loudness`` (mean dBFS
    of voiced frames, 1 s), ``hf_ratio`` (mean, 1 s), ``voiced_fraction`` (1 s).
Speech presence (per row, 2 s window)
    Speech if at least 15 % of the frames are voiced and at least 20 % are "low-energy"
    (below half the window's mean RMS): speech alternates syllables and short pauses,
    sustained music and tones rarely drop (Scheirer & Slaney 1997, ICASSP, "percentage of
    low-energy frames"). Silence (nothing voiced) and sustained music give no speech; music
    with many pauses or a singing voice can pass as speech.
Arousal
    The equal-weight mean of the z-scores of ``f0_level``, ``f0_range``, ``loudness`` and
    ``hf_ratio`` against :data:`VOICE_REFERENCE` (all four rise with arousal: Juslin &
    Laukka 2003; Eyben et al. 2016), NaN where there is no speech. ``voiced_fraction`` is
    reported but not used: its direction for arousal is not established.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.errors import ConfigError
from vafusion.io.media import AudioSignal

#: Rows per second of voice cues (and of voice-only predictions).
VOICE_RATE_HZ = 10.0
_SR = 16_000
_HOP = 160
_FRAME = 1024

#: A recording whose peak stays below this level (dBFS) is silent: no analysis.
SILENCE_DBFS = -60.0

#: Voice cues averaged into voice arousal, in order.
VOICE_AROUSAL_CUES = ("f0_level", "f0_range", "loudness", "hf_ratio")

#: Population references (mean, sd) of the voice cues: judgement calls from typical adult
#: speech (F0 ~150 Hz between men and women, 29.4 st re 27.5 Hz, speakers and states
#: spreading +-4 st; a 2 s pitch range of ~4 st; speech recorded around -26 dBFS; alpha
#: ratio around -12 dB). Level and alpha ratio depend on the microphone and its gain.
VOICE_REFERENCE: dict[str, tuple[float, float]] = {
    "f0_level": (29.4, 4.0),
    "f0_range": (4.0, 2.0),
    "loudness": (-26.0, 6.0),
    "hf_ratio": (-12.0, 5.0),
}
#: Spread of the equal-weight mean of 4 z-scores whose pairwise correlation is ~0.3 (a
#: judgement call): sqrt((1 + 3 * 0.3) / 4).
VOICE_COMPOSITE_SD = 0.69


@dataclass
class VoiceCues:
    """Voice cues on a regular time grid.

    Attributes
    ----------
    times : numpy.ndarray, shape (R,)
        Row centres in seconds on the media's time axis.
    values : dict of str to numpy.ndarray, each shape (R,)
        ``f0_level, f0_range, loudness, hf_ratio, voiced_fraction``; NaN without speech.
    speech : numpy.ndarray, shape (R,), bool
    envelope : numpy.ndarray, shape (R,)
        RMS level (dBFS) of each row, for attributing the voice to a face.
    """

    times: np.ndarray
    values: dict[str, np.ndarray]
    speech: np.ndarray
    envelope: np.ndarray


def _frames(x: np.ndarray) -> np.ndarray:
    """(F, _FRAME) centred frames every _HOP samples (a strided view, zero-padded ends)."""
    xp = np.pad(x, _FRAME // 2)
    n = 1 + (len(xp) - _FRAME) // _HOP
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, _FRAME), strides=(xp.strides[0] * _HOP, xp.strides[0]), writeable=False
    )


def _analyse_block(frames: np.ndarray) -> tuple[np.ndarray, ...]:
    """YIN period, periodicity, level and alpha ratio of a block of frames.

    YIN (de Cheveigne & Kawahara 2002, JASA 111(4)) as librosa.yin computes it: difference
    function over a half-frame window from FFT cross-correlations, cumulative-mean
    normalisation, first dip below 0.1 (else the minimum) in the 65-500 Hz lag range,
    parabolic refinement. Hand-written in NumPy because librosa.yin's import (scipy.signal,
    numba) costs ~260 MB of memory and seconds of start-up in every predict process.
    """
    y = frames.astype(np.float64)
    w = _FRAME // 2
    lo, hi = int(np.floor(_SR / 500)), int(np.ceil(_SR / 65))
    nfft = 2 * _FRAME
    spec = np.fft.rfft(y, nfft)
    r = np.fft.irfft(np.conj(np.fft.rfft(y[:, :w], nfft)) * spec, nfft)[:, : hi + 2]
    cs = np.concatenate([np.zeros((len(y), 1)), np.cumsum(y * y, axis=1)], axis=1)
    lags = np.arange(hi + 2)
    e0 = cs[:, w : w + 1]
    et = cs[:, lags + w] - cs[:, lags]
    d = np.maximum(e0 + et - 2 * r, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cum, 1e-12)
    band = cmnd[:, lo : hi + 1]
    is_min = np.zeros_like(band, bool)
    is_min[:, 1:-1] = (band[:, 1:-1] <= band[:, :-2]) & (band[:, 1:-1] <= band[:, 2:])
    below = is_min & (band < 0.1)
    first = np.where(below.any(1), below.argmax(1), band.argmin(1))
    tau = first + lo
    rows = np.arange(len(y))
    a, b, c = (cmnd[rows, np.clip(tau + k, 1, hi + 1)] for k in (-1, 0, 1))
    den = a - 2 * b + c
    shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    period = tau + np.clip(shift, -1, 1)
    periodicity = r[rows, tau] / np.sqrt(np.maximum(e0[:, 0] * et[rows, tau], 1e-20))
    level = 10 * np.log10(np.maximum((y * y).mean(axis=1), 1e-12))
    power = np.abs(np.fft.rfft(y * np.hanning(_FRAME), _FRAME)) ** 2
    freqs = np.fft.rfftfreq(_FRAME, 1 / _SR)
    low = power[:, (freqs >= 50) & (freqs < 1000)].sum(1)
    high = power[:, (freqs >= 1000) & (freqs < 5000)].sum(1)
    alpha = 10 * np.log10(np.maximum(high, 1e-12) / np.maximum(low, 1e-12))
    return _SR / period, periodicity, level, alpha


def frame_features(audio: AudioSignal) -> dict[str, np.ndarray]:
    """10 ms frame features: ``time, f0, voiced, level, hf_ratio`` (see module docstring)."""
    if audio.sample_rate != _SR:
        raise ConfigError(f"voice cues need {_SR} Hz audio (load_audio's default rate)")
    x = np.asarray(audio.samples, np.float32)
    frames = _frames(x)
    parts = [_analyse_block(frames[i : i + 2000]) for i in range(0, len(frames), 2000)]
    f0, periodicity, level, hf = (np.concatenate(p) for p in zip(*parts, strict=True))
    loud_ref = np.percentile(level, 95) if len(level) else 0.0
    voiced = (periodicity >= 0.6) & (level >= loud_ref - 35.0) & (level > -60.0)
    return {
        "time": audio.start_s + np.arange(len(f0)) * _HOP / _SR,
        "f0": 12.0 * np.log2(f0 / 27.5),
        "voiced": voiced,
        "level": level,
        "hf_ratio": hf,
    }


def _window(times: np.ndarray, centres: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    lo = np.searchsorted(times, centres - width / 2, side="left")
    hi = np.searchsorted(times, centres + width / 2, side="right")
    return lo, hi


def voice_cues(audio: AudioSignal | None, duration_s: float | None = None) -> VoiceCues:
    """Voice cues at :data:`VOICE_RATE_HZ` rows per second.

    Parameters
    ----------
    audio : AudioSignal or None
        Mono audio at 16 kHz. None: no rows.
    duration_s : float, optional
        Length of the grid (default: the audio's end).

    Returns
    -------
    VoiceCues
    """
    names = (*VOICE_AROUSAL_CUES, "voiced_fraction")
    end = duration_s if duration_s is not None else (audio.end_s if audio is not None else 0.0)
    times = (np.arange(int(np.floor(end * VOICE_RATE_HZ))) + 0.5) / VOICE_RATE_HZ
    empty = {k: np.full(len(times), np.nan) for k in names}
    if audio is None or len(audio.samples) == 0 or len(times) == 0:
        return VoiceCues(times, empty, np.zeros(len(times), bool), np.full(len(times), np.nan))
    peak = float(np.max(np.abs(audio.samples))) if len(audio.samples) else 0.0
    if peak < 10 ** (SILENCE_DBFS / 20):  # digital silence: skip the analysis
        return VoiceCues(times, empty, np.zeros(len(times), bool), np.full(len(times), np.nan))
    ff = frame_features(audio)
    t, v = ff["time"], ff["voiced"]
    out = {k: np.full(len(times), np.nan) for k in names}
    speech = np.zeros(len(times), bool)
    envelope = np.full(len(times), np.nan)
    lo1, hi1 = _window(t, times, 1.0)
    lo2, hi2 = _window(t, times, 2.0)
    lor, hir = _window(t, times, 1.0 / VOICE_RATE_HZ)
    amp = 10 ** (ff["level"] / 20)
    for i in range(len(times)):  # per-row window statistics (10 rows per second)
        if hir[i] > lor[i]:
            envelope[i] = float(np.mean(ff["level"][lor[i] : hir[i]]))
        s2 = slice(lo2[i], hi2[i])
        if hi2[i] - lo2[i] < 10:
            continue
        low_energy = np.mean(amp[s2] < 0.5 * amp[s2].mean())
        speech[i] = v[s2].mean() >= 0.15 and low_energy >= 0.2
        s1 = slice(lo1[i], hi1[i])
        out["voiced_fraction"][i] = v[s1].mean() if hi1[i] > lo1[i] else np.nan
        if not speech[i] or v[s1].sum() < 5:
            speech[i] = False
            continue
        f0_1 = ff["f0"][s1][v[s1]]
        f0_2 = ff["f0"][s2][v[s2]]
        out["f0_level"][i] = np.median(f0_1)
        out["f0_range"][i] = np.percentile(f0_2, 80) - np.percentile(f0_2, 20)
        out["loudness"][i] = ff["level"][s1][v[s1]].mean()
        out["hf_ratio"][i] = ff["hf_ratio"][s1][v[s1]].mean()
    return VoiceCues(times, out, speech, envelope)


def voice_arousal_z(cues: VoiceCues) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Equal-weight voice arousal composite (z units) and each cue's share, shape (R,)."""
    from vafusion.predict.fusion import composite, zscore

    zs = {k: zscore(cues.values[k], VOICE_REFERENCE[k]) for k in VOICE_AROUSAL_CUES}
    z, shares = composite(zs)
    z = np.where(cues.speech, z, np.nan)
    return z, {f"voice_{k}": np.where(cues.speech, s, np.nan) for k, s in shares.items()}
