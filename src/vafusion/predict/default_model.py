"""The built-in ``default`` model: face and voice cues, fused and calibrated (no training).

One decode pass runs the face tracker, the expression network (categorical prior) and the
``facepose`` set (action units, pose-free geometry, head pose); the audio track is decoded
once. Per face and frame:

- cues (:mod:`vafusion.predict.face_cues`, :mod:`vafusion.predict.voice`);
- valence = the categorical prior's valence; arousal = the equal-weight mean of the
  z-scored arousal cues mapped with the annotation mean and spread
  (:mod:`vafusion.predict.fusion`); the voice joins a face's cues only while that face
  speaks (:mod:`vafusion.predict.attribution`);
- uncertain frames pulled toward the face's running median, a ``confidence`` per frame;
- zero-phase smoothing (``tau_s`` per pass, ~1 s overall: the bandwidth of continuous
  annotation), optionally shifted by an annotation lag.

Audio-only files (and the frames of a video where no face is seen) give voice arousal
where there is speech, at :data:`~vafusion.predict.voice.VOICE_RATE_HZ` rows per second
for audio-only input; valence stays NaN there (no voice cue here is validated for
valence). Live mode computes the face cues causally (:mod:`vafusion.predict.live_cues`;
no voice). See docs/default-model.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vafusion.errors import ConfigError
from vafusion.predict.circumplex import CircumplexConfig
from vafusion.predict.circumplex_model import CircumplexModel, CircumplexModelConfig
from vafusion.predict.types import FaceCurve, VideoPrediction

DESCRIPTION = (
    "multi-cue default: valence from the FER2013 circumplex prior; arousal from the prior, "
    "facial activation (AUs), expression velocity, head motion and, for the speaking face "
    "or without a face, the voice (F0 level/range, loudness, alpha ratio), equal weights on "
    "population z-scores mapped to the annotation mean/spread; not trained on labels"
)

#: File suffixes read as audio-only input.
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".aac")


@dataclass(frozen=True)
class DefaultModelConfig(CircumplexModelConfig):
    """Settings of the default model (adds to :class:`CircumplexModelConfig`).

    Attributes
    ----------
    tau_s : float
        Smoothing time constant of each of the two passes (0.5 s: the forward-backward
        pair has a ~1 s impulse response, the bandwidth of continuous human annotation).
    lag_s : float
        Shift the output this much later (annotators react ~1-2 s late in continuous
        annotation; 0 for frame-by-frame labels such as AFEW-VA).
    use_voice : bool
        Use the audio track.
    """

    circumplex: CircumplexConfig = field(default_factory=CircumplexConfig)
    tau_s: float = 0.5
    lag_s: float = 0.0
    use_voice: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lag_s < 0:
            raise ConfigError("default model lag_s must be >= 0")


class DefaultModel(CircumplexModel):
    """The multi-cue default model (see the module docstring).

    Examples
    --------
    >>> model = DefaultModel()  # doctest: +SKIP
    >>> pred = model.predict_video("call.wav")  # doctest: +SKIP
    """

    name = "default"
    description = DESCRIPTION

    config_class = DefaultModelConfig

    #: the pass adds the ``facepose`` set (action units, geometry, head pose)
    feature_sets = ("expression", "facepose")

    @classmethod
    def default_tracker_config(cls):
        """The tracker's defaults without the iris points (``irises=False``): no cue reads
        gaze, and MediaPipe's plain face mesh costs ~24 % less CPU than the refined one
        (~16 % of the whole tracker's; ``benchmarks/bench_mesh_irises.py``)."""
        from vafusion.faces.tracker import TrackerConfig

        return TrackerConfig(irises=False)

    def set_configs(self) -> dict:
        """The expression set's settings, and ``facepose`` cut to the cue columns
        (:func:`~vafusion.predict.face_cues.cue_column_names`: 88 of 653 columns kept per
        face and frame)."""
        from vafusion.faces.facepose import FacePoseConfig
        from vafusion.predict.face_cues import cue_column_names

        return {**super().set_configs(), "facepose": FacePoseConfig(columns=cue_column_names())}

    def predict_video(
        self,
        path: str | os.PathLike,
        face: str | int = "main",
        *,
        pool=None,
        stride: int = 1,
    ) -> VideoPrediction:
        """Per-frame valence/arousal of a video, or voice arousal of an audio-only file.

        Parameters are those of :meth:`CircumplexModel.predict_video`.
        """
        if Path(path).suffix.lower() in AUDIO_SUFFIXES or not _has_video(path):
            from vafusion.predict.voice_only import predict_audio

            return predict_audio(path, self.config)
        return super().predict_video(path, face=face, pool=pool, stride=stride)

    def live_session(self):
        """Per-stream live state: the face cues and fusion made causal
        (:class:`~vafusion.predict.live_cues.CueLiveSession`)."""
        from vafusion.predict.live_cues import CueLiveSession

        return CueLiveSession(self)

    def tables_to_curves(self, path, info, tables: dict, face: str | int, analysed=None):
        """Fused curves of the chosen faces (see :func:`vafusion.predict.combine.fuse_faces`)."""
        from vafusion.predict.combine import fuse_faces

        return fuse_faces(path, info, tables, face, self.config, analysed)


def _has_video(path: str | os.PathLike) -> bool:
    """True if the file has a video stream (a bad file is left to the video path to report)."""
    import av

    if not Path(path).is_file():  # a FIFO or device would block the open: the video path reports it
        return True
    try:
        with av.open(str(path)) as c:
            return bool(c.streams.video)
    except Exception:  # noqa: BLE001 - any failure: let the video decoder name the problem
        return True


__all__ = ["DefaultModel", "DefaultModelConfig", "FaceCurve"]
