"""The "facepose" feature set: OpenFace-compatible head pose, gaze, landmarks, AUs, geometry.

:class:`FacePoseSet` is a feature set of :class:`vafusion.extraction.Pipeline`: its
per-video :class:`FacePoseAccumulator` receives every frame's
:class:`~vafusion.faces.types.FaceObservation` list, buffers meshes per track, and computes
features in vectorised chunks of ``chunk_frames`` frames per track (so the per-frame cost
during decoding is a copy).

Running neutral
    Per track, every ``neutral_stride``-th pose-normalised mesh is kept in a reservoir of
    the last ``neutral_window`` samples. When a chunk is processed its own samples are added
    first, then the neutral mesh is the element-wise median of the reservoir and the
    neutral AU measures the median of the reservoir's measures. So the neutral of a frame
    depends on the track's frames up to the end of its chunk (a look-ahead of at most
    ``chunk_frames`` frames); it is robust as long as the face is closer to neutral than
    to any single expression most of the time.

Output
    Long form (see :mod:`vafusion.faces.subjects`): one row per frame per face present, or
    a single invalid row with ``face_id = -1`` for a frame without a face. Invalid rows are
    NaN in every column. ``meta`` holds ``version``, ``tracks``, ``n_frames``, ``frame_width``,
    ``frame_height``, ``focal_length``, ``valid_column = "face_valid"`` and the config.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vafusion.config import config_to_dict
from vafusion.errors import ConfigError
from vafusion.faces.align import aligned_path, write_aligned
from vafusion.faces.aus import au_intensities, au_measures
from vafusion.faces.columns import FACEPOSE_VERSION, N_GEOMETRY, facepose_columns
from vafusion.faces.expression_pca import N_MESH, project
from vafusion.faces.geometry import IBUG68_FROM_MESH
from vafusion.faces.pose import (
    EYE_LANDMARKS,
    PoseFit,
    camera_points,
    default_focal,
    fit_pose,
    gaze,
    normalise_mesh,
)
from vafusion.faces.subjects import TrackStats, face_table
from vafusion.faces.types import FaceObservation
from vafusion.features.base import Accumulator, FeatureSet, FeatureTable
from vafusion.io.media import FrameSource, VideoFrame, VideoInfo
from vafusion.log import get_logger

log = get_logger("faces")


@dataclass(frozen=True)
class FacePoseConfig:
    """Settings of the facepose feature set (face tracking is the pipeline's, see
    :class:`vafusion.extraction.PipelineConfig`).

    Attributes
    ----------
    focal_length : float
        Camera focal length in pixels of the original frame; 0 = OpenFace's default
        ``500 * (W / 640 + H / 480) / 2``.
    chunk_frames : int
        Frames per track processed together (bounds the neutral's look-ahead).
    neutral_window : int
        Samples kept in a track's neutral reservoir.
    neutral_stride : int
        One sample every this many frames of a track.
    aligned_dir : str
        If set, aligned crops are written to ``<aligned_dir>/<video stem>/<00001>.jpg``
        (face 0; ``<stem>_face<k>`` for other tracks). Not part of the key.
    columns : tuple of str
        Keep only these columns (in the set's column order); empty (default): all of
        :func:`~vafusion.faces.columns.facepose_columns`. Every column is still computed;
        the others are dropped as each track chunk is done, so a caller that reads a few
        columns (the default model: 88 of 653) holds ~7x less per frame. Part of the key
        when not empty.
    """

    focal_length: float = 0.0
    chunk_frames: int = 256
    neutral_window: int = 300
    neutral_stride: int = 3
    aligned_dir: str = ""
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.focal_length < 0:
            raise ConfigError("facepose.focal_length must be >= 0 (0: default)")
        if self.chunk_frames < 16 or self.neutral_window < 8 or self.neutral_stride < 1:
            raise ConfigError(
                "facepose.chunk_frames >= 16, neutral_window >= 8, neutral_stride >= 1"
            )
        unknown = sorted(set(self.columns) - set(facepose_columns()))
        if unknown:
            raise ConfigError(f"facepose.columns: unknown columns {unknown[:5]}")

    def kept(self) -> np.ndarray | None:
        """Indices of :attr:`columns` among all facepose columns (None: all of them)."""
        if not self.columns:
            return None
        wanted = set(self.columns)
        return np.array([i for i, c in enumerate(facepose_columns()) if c in wanted])


@dataclass
class TrackState:
    frames: list = field(default_factory=list)
    meshes: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    seen: int = 0  # frames of this track already processed
    neutral_meshes: deque = field(default_factory=deque)
    neutral_measures: deque = field(default_factory=deque)


class FacePoseSet(FeatureSet):
    """OpenFace-style "FacePose" features of every tracked face (see module docstring).

    Parameters
    ----------
    config : FacePoseConfig, optional
    """

    name = "facepose"
    config_class = FacePoseConfig
    needs_frames = True
    needs_faces = True
    version = FACEPOSE_VERSION
    output_only = ("aligned_dir",)

    @property
    def columns(self) -> list[str]:
        """Column names (:func:`~vafusion.faces.columns.facepose_columns`, or the
        config's subset of them)."""
        return _columns(self.config)

    def identity(self) -> dict:
        """Store-key identity; ``columns`` enters it only when set (keys of stores made
        before the option existed stay valid)."""
        out = super().identity()
        if not self.config.columns:
            out["config"].pop("columns", None)
        return out

    def accumulator(self, source: FrameSource) -> FacePoseAccumulator:
        """Per-video state (track buffers, running neutrals)."""
        return FacePoseAccumulator(self.config, source.path)


class FacePoseAccumulator(Accumulator):
    """One video's facepose state: buffers meshes per track, computes them per chunk."""

    def __init__(self, config: FacePoseConfig, path: str) -> None:
        self.config = config
        self.columns = _columns(config)
        self._keep = config.kept()
        self._path = path
        self._buffers: dict[int, TrackState] = {}
        self._rows: list[tuple[np.ndarray, int, np.ndarray]] = []
        self._stats = TrackStats()
        self._size: tuple[int, int] | None = None

    def push(self, frame: VideoFrame, faces: list[FaceObservation]) -> None:
        """Buffer the faces of one frame (features are computed per chunk)."""
        if self._size is None:
            h, w = frame.image.shape[:2]
            self._size = (int(round(w / frame.scale)), int(round(h / frame.scale)))
        self._stats.add(frame.index, faces)
        for face in faces:
            buf = self._buffers.setdefault(face.face_id, TrackState())
            buf.frames.append(frame.index)
            buf.meshes.append(np.asarray(face.landmarks, dtype=np.float32))
            buf.scores.append(float(face.score))
            if len(buf.frames) >= self.config.chunk_frames:
                self._flush(face.face_id)
            if self.config.aligned_dir:
                stem = Path(self._path).stem
                dest = aligned_path(self.config.aligned_dir, stem, frame.index, face.face_id)
                write_aligned(dest, face.aligned)

    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """Finish the video: long-form table (see module docstring)."""
        for fid in list(self._buffers):
            self._flush(fid)
        d = len(self.columns)
        rows, self._rows = self._rows, []
        # filled block by block, each block released once copied, and the blocks no longer
        # kept by this accumulator: the values (2.6 kB per face and frame with all 653
        # columns, ~225 MB for an hour at 24 fps) are held at most twice (here and
        # face_table's sorted copy)
        total = sum(len(fr) for fr, _, _ in rows)
        frames = np.empty(total, np.int64)
        face_ids = np.empty(total, np.int64)
        values = np.empty((total, d), np.float32)
        pos = 0
        for i, (fr, fid, v) in enumerate(rows):
            frames[pos : pos + len(fr)], face_ids[pos : pos + len(fr)] = fr, fid
            values[pos : pos + len(fr)] = v
            pos += len(fr)
            rows[i] = None
        del rows
        width, height = self._size or (info.width, info.height)
        meta = {
            "version": FACEPOSE_VERSION,
            "frame_width": width,
            "frame_height": height,
            "focal_length": self.config.focal_length or default_focal(width, height),
            "config": config_to_dict(self.config),
        }
        long_rows = (frames, face_ids, values, np.ones(total, dtype=bool))
        return face_table(
            FacePoseSet.name, self.columns, long_rows, timestamps, self._stats, info.path, meta
        )

    def _flush(self, face_id: int) -> None:
        buf = self._buffers[face_id]
        if not buf.frames:
            return
        frames = np.asarray(buf.frames, dtype=np.int64)
        meshes = np.stack(buf.meshes).astype(np.float64)
        scores = np.asarray(buf.scores)
        start = buf.seen
        buf.seen += len(frames)
        buf.frames, buf.meshes, buf.scores = [], [], []
        values = compute_facepose(meshes, scores, self._size, self.config, buf, first_index=start)
        if self._keep is not None:
            values = values[:, self._keep]
        self._rows.append((frames, face_id, values))


def _columns(config: FacePoseConfig) -> list[str]:
    """The column names a config's tables have."""
    cols = facepose_columns()
    keep = config.kept()
    return cols if keep is None else [cols[i] for i in keep]


def add_neutral_samples(
    state: TrackState,
    norm: np.ndarray,
    measures: np.ndarray,
    config: FacePoseConfig,
    first_index: int = 0,
) -> None:
    """Add every ``neutral_stride``-th mesh of a chunk to a track's reservoir (in place).

    Parameters
    ----------
    state : TrackState
    norm : numpy.ndarray, shape (B, 468, 3)
        Pose-normalised meshes of the chunk.
    measures : numpy.ndarray, shape (B, 17)
        Their AU measures.
    config : FacePoseConfig
    first_index : int
        Index of the chunk's first mesh within the track (sampling phase).
    """
    take = np.flatnonzero((np.arange(len(norm)) + first_index) % config.neutral_stride == 0)
    for i in take:
        state.neutral_meshes.append(norm[i].astype(np.float32))
        state.neutral_measures.append(measures[i])
    while len(state.neutral_meshes) > config.neutral_window:
        state.neutral_meshes.popleft()
        state.neutral_measures.popleft()


def neutral_of(
    state: TrackState, norm: np.ndarray, measures: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The running neutral: element-wise medians of the reservoir.

    ``norm`` and ``measures`` (shapes (B, 468, 3) and (B, 17)) stand in while the reservoir
    is empty (a chunk shorter than the stride phase: its own median). The mesh median costs
    ~10 ms for a full reservoir of 300 meshes.

    Returns
    -------
    neutral : numpy.ndarray, shape (468, 3)
    neutral_measures : numpy.ndarray, shape (17,)
    """
    if not state.neutral_meshes:
        return np.median(norm, axis=0), np.median(measures, axis=0)
    return (
        np.median(np.stack(state.neutral_meshes), axis=0),
        np.median(np.stack(state.neutral_measures), axis=0),
    )


def update_neutral(
    state: TrackState,
    norm: np.ndarray,
    measures: np.ndarray,
    config: FacePoseConfig,
    first_index: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add a chunk's samples to a track's reservoir and return the running neutral
    (:func:`add_neutral_samples`, then :func:`neutral_of`)."""
    add_neutral_samples(state, norm, measures, config, first_index)
    return neutral_of(state, norm, measures)


@dataclass
class MeshMeasures:
    """A batch of meshes with their rigid fit, pose-free shape and AU measures.

    Attributes
    ----------
    meshes : numpy.ndarray, shape (B, 478, 3), float64
        Original-frame pixels.
    fit : PoseFit
    norm : numpy.ndarray, shape (B, 468, 3)
        Pose-normalised meshes (model frame, mm).
    measures : numpy.ndarray, shape (B, 17)
        :func:`~vafusion.faces.aus.au_measures` of ``norm``.
    """

    meshes: np.ndarray
    fit: PoseFit
    norm: np.ndarray
    measures: np.ndarray


def measure_meshes(
    meshes: np.ndarray, size: tuple[int, int], config: FacePoseConfig
) -> MeshMeasures:
    """Fit the head pose of a batch of meshes and measure their pose-free shape.

    Parameters
    ----------
    meshes : numpy.ndarray, shape (B, 478, 3)
        Meshes in original-frame pixels.
    size : tuple of int
        Original frame ``(width, height)``.
    config : FacePoseConfig

    Returns
    -------
    MeshMeasures
    """
    meshes = np.asarray(meshes, np.float64)
    width, height = size
    fit = fit_pose(meshes, width, height, config.focal_length or None)
    norm = normalise_mesh(meshes[:, :N_MESH], fit)
    return MeshMeasures(meshes, fit, norm, au_measures(norm))


def compute_facepose(
    meshes: np.ndarray,
    scores: np.ndarray,
    size: tuple[int, int],
    config: FacePoseConfig,
    state: TrackState | None = None,
    first_index: int = 0,
) -> np.ndarray:
    """Facepose rows for a chunk of one track's meshes.

    Parameters
    ----------
    meshes : numpy.ndarray, shape (B, 478, 3)
        Consecutive meshes of one track in original-frame pixels.
    scores : numpy.ndarray, shape (B,)
        Tracker confidences.
    size : tuple of int
        Original frame ``(width, height)``.
    config : FacePoseConfig
    state : optional
        The track's running-neutral state (updated in place); a fresh one when None.
    first_index : int
        Index of the chunk's first mesh within the track (sampling phase).

    Returns
    -------
    numpy.ndarray, shape (B, D), float32
        Columns :func:`~vafusion.faces.columns.facepose_columns`.
    """
    state = state if state is not None else TrackState()
    m = measure_meshes(meshes, size, config)
    neutral, neutral_m = update_neutral(state, m.norm, m.measures, config, first_index)
    return facepose_rows(m, scores, neutral, neutral_m)


def facepose_rows(
    m: MeshMeasures, scores: np.ndarray, neutral: np.ndarray, neutral_measures: np.ndarray
) -> np.ndarray:
    """All facepose columns of measured meshes against a given neutral.

    Parameters
    ----------
    m : MeshMeasures
        From :func:`measure_meshes` (``B`` meshes).
    scores : numpy.ndarray, shape (B,)
        Tracker confidences.
    neutral : numpy.ndarray, shape (468, 3)
    neutral_measures : numpy.ndarray, shape (17,)
        The track's running neutral (:func:`neutral_of`).

    Returns
    -------
    numpy.ndarray, shape (B, D), float32
        Columns :func:`~vafusion.faces.columns.facepose_columns`.
    """
    meshes, fit = m.meshes, m.fit
    aus = au_intensities(m.measures, neutral_measures)
    geom = project(m.norm - neutral[None], N_GEOMETRY)
    g0, g1, angles = gaze(meshes, fit)
    eye2d = meshes[:, np.asarray(EYE_LANDMARKS), :2]
    eye3d = camera_points(meshes, fit, EYE_LANDMARKS)
    lm2d = meshes[:, np.asarray(IBUG68_FROM_MESH), :2]
    lm3d = camera_points(meshes, fit, IBUG68_FROM_MESH)
    b = len(meshes)
    confidence = np.clip(scores, 0.0, 1.0) * np.exp(-np.maximum(fit.residual - 3.0, 0.0) / 3.0)
    parts = [
        confidence[:, None],
        np.ones((b, 1)),
        g0,
        g1,
        angles,
        eye2d[:, :, 0],
        eye2d[:, :, 1],
        eye3d[:, :, 0],
        eye3d[:, :, 1],
        eye3d[:, :, 2],
        fit.translation,
        fit.euler,
        lm2d[:, :, 0],
        lm2d[:, :, 1],
        lm3d[:, :, 0],
        lm3d[:, :, 1],
        lm3d[:, :, 2],
        fit.scale[:, None],
        fit.euler,
        fit.shift[:, :2],
        geom,
        aus,
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)
