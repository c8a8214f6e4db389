"""Audio-only input for the default model: voice arousal at a fixed rate.

``vafusion predict call.wav`` (wav, mp3, m4a, flac, ...; any file without a video stream)
gives one row every ``1 / VOICE_RATE_HZ`` s (0.1 s) with its timestamp: arousal from the
voice (:mod:`vafusion.predict.voice`) where there is speech, NaN elsewhere; valence is
always NaN (no voice cue here is validated for valence); ``source`` is ``voice`` on rows
with an estimate. Silence or music only: all NaN and one warning.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from vafusion.errors import MediaError
from vafusion.io.audio import load_audio
from vafusion.io.media import VideoInfo
from vafusion.predict.types import FaceCurve, VideoPrediction

NO_SPEECH = "no speech found (silence or music only): valence and arousal are NaN"


def predict_audio(path: str | os.PathLike, config) -> VideoPrediction:
    """Voice-only prediction of one audio file.

    Parameters
    ----------
    path : str or PathLike
    config : DefaultModelConfig

    Returns
    -------
    VideoPrediction
        One curve (``face_id`` -1, ``valid`` all False: no face) on the voice grid.

    Raises
    ------
    MediaError
        If the file cannot be decoded or has no audio stream.
    """
    from vafusion.predict.combine import VOICE_ONLY_CONFIDENCE, _smooth, composite_sd
    from vafusion.predict.fusion import AROUSAL_MEAN, AROUSAL_SD
    from vafusion.predict.voice import VOICE_RATE_HZ, voice_arousal_z, voice_cues

    t0 = time.perf_counter()
    audio = load_audio(path)
    if audio is None:
        raise MediaError("no audio or video stream", Path(path))
    cues = voice_cues(audio)
    z, shares = voice_arousal_z(cues)
    n = len(cues.times)
    sd = composite_sd(np.full(n, float(len(shares))))
    arousal = np.clip(AROUSAL_MEAN + AROUSAL_SD * z / sd, -1.0, 1.0)
    va = np.stack([np.full(n, np.nan), arousal], axis=1)
    va[:, 1] = _smooth(va[:, 1:], cues.times, config)[:, 0]
    has = np.isfinite(va[:, 1])
    curve = FaceCurve(
        -1,
        np.zeros(n, bool),
        va.astype(np.float32),
        np.full((n, 4), np.nan, np.float32),
        confidence=np.where(has, VOICE_ONLY_CONFIDENCE, 0.0).astype(np.float32),
        source=np.where(has, "voice", "").astype(object),
        contributions={f"a_{k}": AROUSAL_SD * s / sd for k, s in shares.items()},
    )
    duration = n / VOICE_RATE_HZ
    info = VideoInfo(
        path=str(path),
        n_frames=n,
        fps=VOICE_RATE_HZ,
        duration_s=duration,
        width=0,
        height=0,
        rotation=0,
        video_codec="",
        has_audio=True,
        audio_sample_rate=audio.sample_rate,
    )
    stats = {
        "process_s": time.perf_counter() - t0,
        "speech_rows": int(cues.speech.sum()),
        "speech_share": float(cues.speech.mean()) if n else 0.0,
    }
    warnings = [] if has.any() else [NO_SPEECH]
    return VideoPrediction(info, cues.times, [curve], stats, warnings)
