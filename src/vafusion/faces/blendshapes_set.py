"""The ``blendshapes`` feature set: MediaPipe's 52 blendshape scores of every tracked face.

Per tracked face and frame, the 52 ARKit-style scores of
:class:`~vafusion.faces.blendshapes.BlendshapeModel` (columns ``bs_neutral``,
``bs_browDownLeft``, ... ``bs_noseSneerRight``, each in [0, 1]) computed from the face mesh
the shared tracker already produced: no second mesh, no image access. Faces are buffered
and sent to the network ``batch_faces`` at a time, across tracks and frames.

Per-track neutral (optional, ``neutral=True``)
    52 more columns ``bs_<name>_delta`` = score minus the track's running neutral score,
    the element-wise median of a reservoir holding every ``neutral_stride``-th score of
    the track, the last ``neutral_window`` of them, up to the end of the batch being
    computed (the same scheme as the facepose AUs: a look-ahead of at most one batch). A
    delta is signed (a face "less smiling than usual" is negative); it removes a person's
    resting expression (a mouth that looks slightly open, low brows) from the scores,
    and is robust as long as the face is nearer its neutral than any one expression most
    of the time.

Output
    Long form like ``facepose`` (:mod:`vafusion.faces.subjects`): one row per frame per
    face present, or one invalid row (``face_id = -1``, NaN) for a frame without a face.
    ``valid_column = "face_valid"``; ``meta`` holds ``version``, ``tracks``, ``n_frames``,
    the config and the model's sha256.

The loaded network (:class:`~vafusion.faces.blendshapes.BlendshapeModel`) is the part shared
between videos (and threads); everything about one video lives in a
:class:`BlendshapesAccumulator`, made by :meth:`BlendshapesSet.accumulator`.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from vafusion.config import config_to_dict
from vafusion.errors import ConfigError
from vafusion.faces.blendshapes import BLENDSHAPE_COLUMNS, BlendshapeModel
from vafusion.faces.subjects import TrackStats, face_table
from vafusion.faces.types import FaceObservation
from vafusion.features.base import Accumulator, FeatureSet, FeatureTable
from vafusion.io.media import FrameSource, VideoFrame, VideoInfo
from vafusion.log import get_logger

log = get_logger("faces")

#: Version of the column list and computation (bump when outputs change meaning).
BLENDSHAPES_VERSION = "blendshapes-1"


@dataclass(frozen=True)
class BlendshapesConfig:
    """Settings of the blendshapes feature set.

    Attributes
    ----------
    neutral : bool
        Add the per-track ``bs_*_delta`` columns (see module docstring).
    neutral_window : int
        Samples kept in a track's neutral reservoir.
    neutral_stride : int
        One sample every this many frames of a track.
    batch_faces : int
        Faces per network call (16: small batches keep the network's activations in
        the CPU cache; larger ones are slower per face).
    num_threads : int
        ONNX Runtime threads of the network.
    """

    neutral: bool = False
    neutral_window: int = 300
    neutral_stride: int = 3
    batch_faces: int = 16
    num_threads: int = 1

    def __post_init__(self) -> None:
        if self.neutral_window < 8 or self.neutral_stride < 1:
            raise ConfigError("blendshapes.neutral_window >= 8 and neutral_stride >= 1")
        if self.batch_faces < 1 or self.num_threads < 1:
            raise ConfigError("blendshapes.batch_faces and num_threads must be >= 1")


def blendshape_columns(neutral: bool = False) -> list[str]:
    """``bs_<name>`` for the 52 scores, then ``bs_<name>_delta`` when ``neutral``."""
    cols = list(BLENDSHAPE_COLUMNS)
    return cols + [f"{c}_delta" for c in BLENDSHAPE_COLUMNS] if neutral else cols


class NeutralReservoir:
    """A track's running neutral: median of every ``stride``-th sample, last ``window`` kept.

    Parameters
    ----------
    window, stride : int
    """

    def __init__(self, window: int, stride: int) -> None:
        self.stride = stride
        self.samples: deque = deque(maxlen=window)
        self.seen = 0

    def update(self, values: np.ndarray) -> np.ndarray:
        """Add the track's next rows and return the neutral after them.

        Parameters
        ----------
        values : numpy.ndarray, shape (B, D)
            Consecutive rows of the track.

        Returns
        -------
        numpy.ndarray, shape (D,)
            Median of the reservoir (of ``values`` itself if no sample fell in it yet).
        """
        take = np.flatnonzero((np.arange(len(values)) + self.seen) % self.stride == 0)
        self.seen += len(values)
        self.samples.extend(values[take])
        if not self.samples:
            return np.median(values, axis=0)
        return np.median(np.stack(self.samples), axis=0)


class BlendshapesAccumulator(Accumulator):
    """The per-video state of the blendshapes set.

    Parameters
    ----------
    model : BlendshapeModel
        Shared, loaded network.
    config : BlendshapesConfig
    """

    def __init__(self, model: BlendshapeModel, config: BlendshapesConfig) -> None:
        self.model = model
        self.config = config
        self.columns = blendshape_columns(config.neutral)
        self._stats = TrackStats()
        self._pending: list[tuple[int, int, np.ndarray]] = []  # (frame, face_id, mesh)
        self._frames: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._neutral: dict[int, NeutralReservoir] = {}

    def push(self, frame: VideoFrame, faces: list[FaceObservation]) -> None:
        """Buffer the meshes of one frame's faces (computed ``batch_faces`` at a time)."""
        self._stats.add(frame.index, faces)
        for face in faces:
            self._pending.append((frame.index, int(face.face_id), face.landmarks))
        if len(self._pending) >= self.config.batch_faces:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        frames = np.array([p[0] for p in self._pending], dtype=np.int64)
        ids = np.array([p[1] for p in self._pending], dtype=np.int64)
        scores = self.model(np.stack([p[2] for p in self._pending]))
        self._pending = []
        if self.config.neutral:
            scores = np.concatenate([scores, self._deltas(ids, scores)], axis=1)
        self._frames.append(frames)
        self._ids.append(ids)
        self._values.append(scores.astype(np.float32))

    def _deltas(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Score minus the running neutral of its track (rows are in frame order)."""
        deltas = np.empty_like(scores)
        for fid in np.unique(ids):
            rows = np.flatnonzero(ids == fid)
            res = self._neutral.setdefault(
                int(fid), NeutralReservoir(self.config.neutral_window, self.config.neutral_stride)
            )
            deltas[rows] = scores[rows] - res.update(scores[rows])[None]
        return deltas

    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """Finish the video: the long-form table (see module docstring)."""
        self._flush()
        d = len(self.columns)
        frames = np.concatenate(self._frames) if self._frames else np.zeros(0, np.int64)
        ids = np.concatenate(self._ids) if self._ids else np.zeros(0, np.int64)
        values = np.concatenate(self._values) if self._values else np.zeros((0, d), np.float32)
        meta = {
            "version": BLENDSHAPES_VERSION,
            "model_sha256": self.model.sha256,
            "config": config_to_dict(self.config),
        }
        rows = (frames, ids, values, np.ones(len(frames), dtype=bool))
        return face_table(
            BlendshapesSet.name, self.columns, rows, timestamps, self._stats, info.path, meta
        )


class BlendshapesSet(FeatureSet):
    """The blendshapes feature set (see module docstring).

    Parameters
    ----------
    config : BlendshapesConfig, optional
    model : BlendshapeModel, optional
        An already loaded network to share; loaded on first use otherwise.
    """

    name = "blendshapes"
    config_class = BlendshapesConfig
    needs_frames = True
    needs_faces = True
    version = BLENDSHAPES_VERSION

    def __init__(
        self, config: BlendshapesConfig | None = None, model: BlendshapeModel | None = None
    ) -> None:
        super().__init__(config)
        self._model = model
        self._lock = threading.Lock()

    @property
    def columns(self) -> list[str]:
        """``bs_*`` (and ``bs_*_delta``) column names."""
        return blendshape_columns(self.config.neutral)

    @property
    def model(self) -> BlendshapeModel:
        """The loaded network (shared by every video and thread of this set)."""
        with self._lock:
            if self._model is None:
                self._model = BlendshapeModel(num_threads=self.config.num_threads)
        return self._model

    def identity(self) -> dict:
        """Config (minus batch size and threads) and the network's sha256."""
        ident = super().identity()
        ident["config"].pop("batch_faces")
        ident["config"].pop("num_threads")
        ident["model_sha256"] = self.model.sha256
        return ident

    def accumulator(self, source: FrameSource) -> BlendshapesAccumulator:
        """Fresh per-video state sharing this set's loaded model."""
        return BlendshapesAccumulator(self.model, self.config)
