"""Optional audio feature set ``egemaps``: openSMILE eGeMAPS v02 descriptors per video frame.

The 25 eGeMAPS low-level descriptors (loudness, pitch, jitter, shimmer, formants, spectral
slopes, ...; Eyben et al. 2016) are computed by audEERING's ``opensmile`` package on a 10 ms
grid and averaged over each video frame's audio segment, the same segment as the paper's
MFCC/mel features (:func:`vafusion.features.audio.segment_bounds`). Frame-level
*functionals* would need windows of a second or more, far longer than one video frame, so
the LLD-average is the per-frame analogue. Requires the optional ``opensmile`` dependency
(``pip install vafusion[smile]``; installed by ``make setup``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from vafusion.errors import ConfigError
from vafusion.features.audio import (
    SegmentAudioSet,
    audio_coverage,
    column_ranges,
    segment_bounds,
    segment_means,
)
from vafusion.io.media import AudioSignal
from vafusion.log import get_logger

log = get_logger("egemaps")

#: openSMILE's eGeMAPS LLD hop (10 ms)
_LLD_RATE = 100.0


@dataclass(frozen=True)
class EgemapsConfig:
    """Settings of the ``egemaps`` feature set.

    Attributes
    ----------
    sample_rate : int
        Resampling rate in Hz before openSMILE.
    segment_periods : float
        Segment length in frame periods (2.0: the paper's one-half overlap).
    min_coverage : float
        Minimum share of a segment on real audio for the row to be valid.
    """

    sample_rate: int = 16_000
    segment_periods: float = 2.0
    min_coverage: float = 0.5


def _smile():
    try:
        import opensmile
    except ImportError:  # optional dependency
        raise ConfigError(
            "feature set 'egemaps' needs the optional 'opensmile' package "
            "(pip install 'vafusion[smile]')"
        ) from None
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )


class EgemapsSet(SegmentAudioSet):
    """The ``egemaps`` feature set: 25 eGeMAPS LLDs averaged per video frame."""

    name = "egemaps"
    config_class = EgemapsConfig

    def __init__(self, config: EgemapsConfig | None = None) -> None:
        super().__init__(config)
        self._smile = _smile()
        # one openSMILE instance serves every thread of the pipeline; it is not documented
        # as thread-safe, so calls are serialised (audio is a small share of the work)
        self._lock = threading.Lock()
        self._columns = [f"egemaps_{c}" for c in self._smile.feature_names]

    @property
    def columns(self) -> list[str]:
        """Output column names (``egemaps_<openSMILE name>``)."""
        return list(self._columns)

    def compute_from_signal(
        self, audio: AudioSignal | None, timestamps: np.ndarray, fps: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame LLD means; returns ``values`` (N, 25) float32 and ``valid`` (N,)."""
        t = np.asarray(timestamps, dtype=np.float64)
        values = np.full((len(t), len(self._columns)), np.nan, dtype=np.float32)
        if audio is None or len(t) == 0 or audio.end_s <= audio.start_s:
            return values, np.zeros(len(t), dtype=bool)
        start, end = segment_bounds(t, self.config.segment_periods, fps)
        valid = audio_coverage(start, end, audio) >= self.config.min_coverage - 1e-9
        with self._lock:
            lld = self._smile.process_signal(audio.samples, audio.sample_rate)
        lld_values = lld.to_numpy(dtype=np.float64).T  # (25, K)
        # openSMILE's row k covers [k*10 ms, k*10 ms + window): centre it like librosa's grid
        k_start, k_end = column_ranges(t, start, end, _LLD_RATE)
        k_end = np.minimum(k_end, lld_values.shape[1])
        k_start = np.minimum(k_start, k_end - 1)
        rows = np.flatnonzero(valid)
        if len(rows):
            values[rows] = segment_means(lld_values, k_start[rows], k_end[rows]).T
        return values, valid
