"""Plain data types of predictions (the boundary between models and reports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vafusion.io.media import VideoInfo


@dataclass
class FaceCurve:
    """Dense per-frame prediction for one reported face of one video.

    Attributes
    ----------
    face_id : int
        Track id (-1: no face was ever found).
    valid : numpy.ndarray, shape (T,), bool
        True where the face was seen (and a prediction exists).
    va : numpy.ndarray, shape (T, 2), float32
        Valence and arousal in [-1, 1]; NaN where ``valid`` is False.
    bbox : numpy.ndarray, shape (T, 4), float32
        ``x0, y0, x1, y1`` in original-frame pixels; NaN where not seen.
    expressions : numpy.ndarray, shape (T, 7), float32, optional
        Expression class probabilities behind the curve (classes in
        :data:`vafusion.predict.circumplex.EMOTIONS` order; NaN where not seen), if the
        model has them.
    interpolated : numpy.ndarray, shape (T,), bool, optional
        With a frame stride (``predict --stride``): True where ``va`` and ``bbox`` are
        interpolated between analysed frames; None when every frame was analysed.
    confidence : numpy.ndarray, shape (T,), float32, optional
        How much to trust each row, in [0, 1] (models that estimate it).
    source : numpy.ndarray, shape (T,), str, optional
        ``face``, ``voice``, ``face+voice`` or ``""`` (no estimate) per row.
    contributions : dict of str to numpy.ndarray, optional
        Per-cue contributions, each shape (T,), in output units: ``a_<cue>`` sum to the
        arousal minus the annotation mean (0.2), ``v_<cue>`` to the valence, before the
        uncertainty pull and smoothing; written as ``contrib_*`` columns with ``--explain``.
    """

    face_id: int
    valid: np.ndarray
    va: np.ndarray
    bbox: np.ndarray
    expressions: np.ndarray | None = None
    interpolated: np.ndarray | None = None
    confidence: np.ndarray | None = None
    source: np.ndarray | None = None
    contributions: dict[str, np.ndarray] | None = None


@dataclass(repr=False)
class VideoPrediction:
    """Everything predicted for one video.

    Attributes
    ----------
    info : VideoInfo
    timestamps : numpy.ndarray, shape (T,), float64
        Time of every decoded frame.
    faces : list of FaceCurve
        The reported faces (at least one entry; ``face_id == -1`` if none was found).
    stats : dict
        Processing statistics (seconds, frames with a face, number of tracks...).
    warnings : list of str
    """

    info: VideoInfo
    timestamps: np.ndarray
    faces: list[FaceCurve]
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    explain: bool = False

    def __repr__(self) -> str:
        """One line: video, frames, faces with their coverage (no arrays)."""
        faces = ", ".join(f"{f.face_id}: {f.valid.mean():.0%}" for f in self.faces if len(f.valid))
        name = getattr(self.info, "path", "")
        return (
            f"VideoPrediction({str(name)!r}, frames={len(self.timestamps)}, "
            f"faces={{{faces}}}, warnings={len(self.warnings)})"
        )

    def to_frame(self, explain: bool | None = None):
        """The per-frame table as a DataFrame indexed by ``timestamp``.

        Columns ``frame, timestamp, face_id, face_valid, valence, arousal`` (and
        ``interpolated``, 0/1, with a frame stride; ``confidence, source`` when the model
        estimates them; ``contrib_<cue>`` with ``explain``): one row per time step per
        reported face (a decoded frame, or a fixed-rate step for audio-only input), rows
        ordered by face then time.
        """
        import pandas as pd

        explain = self.explain if explain is None else explain
        parts = []
        n = len(self.timestamps)
        for face in self.faces:
            parts.append(
                pd.DataFrame(
                    {
                        "frame": np.arange(n, dtype=np.int64),
                        "timestamp": self.timestamps,
                        "face_id": np.full(n, face.face_id, dtype=np.int64),
                        "face_valid": face.valid.astype(np.int8),
                        "valence": face.va[:, 0].astype(np.float64),
                        "arousal": face.va[:, 1].astype(np.float64),
                    }
                )
            )
            if face.interpolated is not None:
                parts[-1]["interpolated"] = face.interpolated.astype(np.int8)
            if face.confidence is not None:
                parts[-1]["confidence"] = np.asarray(face.confidence, np.float64)
            if face.source is not None:
                parts[-1]["source"] = np.asarray(face.source, dtype=object)
            if explain and face.contributions:
                for k, v in face.contributions.items():
                    parts[-1][f"contrib_{k}"] = np.asarray(v, np.float64)
        df = pd.concat(parts, ignore_index=True)
        return df.set_index("timestamp", drop=False).rename_axis("time")
