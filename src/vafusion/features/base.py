"""The contract of every feature set: FeatureTable, FeatureSet and Accumulator.

A :class:`FeatureSet` holds what can be shared (config, loaded weights); for each video
the pipeline asks it for a fresh :class:`Accumulator`, feeds it the decoded frames (and
tracked faces) and finishes it into a :class:`FeatureTable`.

A feature table has one row per decoded video frame (``per-frame`` tables), or, for face
features with several faces, one row per frame *per face track* (``face_id`` set; see
:mod:`vafusion.faces`). Invalid rows (no audio, no face) carry NaN values and
``valid == False``: never zeros presented as data, never dropped rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from vafusion.errors import ConfigError, VafusionError

if TYPE_CHECKING:
    from vafusion.faces.types import FaceObservation
    from vafusion.io.media import FrameSource, VideoFrame, VideoInfo


@dataclass(repr=False)
class FeatureTable:
    """Per-frame features of one extractor for one video.

    Attributes
    ----------
    name : str
        Feature-set name (``"audio"``, ``"facepose"``, ``"expression"``, ...).
    frame : numpy.ndarray, shape (N,), int64
        0-based decoded frame index of each row.
    timestamp : numpy.ndarray, shape (N,), float64
        Seconds on the video time axis.
    values : numpy.ndarray, shape (N, D), float32
        Feature values; NaN on invalid rows.
    columns : list of str, length D
        Documented column names.
    valid : numpy.ndarray, shape (N,), bool
        Validity mask.
    face_id : numpy.ndarray, shape (N,), int64, optional
        Track id for face features in long (one row per frame per face) form; -1 where no
        face. None for features that are not about a face.
    meta : dict
        JSON-compatible metadata (extractor config, version, per-track summaries...).
    """

    name: str
    frame: np.ndarray
    timestamp: np.ndarray
    values: np.ndarray
    columns: list[str]
    valid: np.ndarray
    face_id: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frame = np.asarray(self.frame, dtype=np.int64)
        self.timestamp = np.asarray(self.timestamp, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool)
        if self.face_id is not None:
            self.face_id = np.asarray(self.face_id, dtype=np.int64)
        n = len(self.frame)
        if self.values.ndim != 2 or self.values.shape != (n, len(self.columns)):
            raise VafusionError(
                f"feature table {self.name!r}: values shape {self.values.shape} does not match "
                f"{n} rows x {len(self.columns)} columns"
            )
        for attr in ("timestamp", "valid") + (("face_id",) if self.face_id is not None else ()):
            if len(getattr(self, attr)) != n:
                raise VafusionError(f"feature table {self.name!r}: {attr} has wrong length")

    def __repr__(self) -> str:
        """One line: name, shape, valid share, faces, time span, first columns (no arrays)."""
        n = self.n_rows
        cols = ", ".join(self.columns[:3]) + (", ..." if self.dim > 3 else "")
        faces = ""
        if self.face_id is not None:
            faces = f", faces={len(np.unique(self.face_id[self.face_id >= 0]))}"
        span = f"{self.timestamp[0]:.2f}-{self.timestamp[-1]:.2f} s" if n else "empty"
        valid = f"{self.valid.mean():.0%}" if n else "-"
        return (
            f"FeatureTable({self.name!r}, rows={n}, dim={self.dim}, valid={valid}{faces}, "
            f"{span}, columns=[{cols}])"
        )

    __str__ = __repr__

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.frame)

    @property
    def dim(self) -> int:
        """Number of feature columns ``D``."""
        return len(self.columns)

    @property
    def valid_column(self) -> str:
        """Name of the validity column in exports (``<name>_valid``; ``face_valid`` for faces)."""
        return self.meta.get("valid_column", f"{self.name}_valid")

    def to_pandas(self):
        """Return a DataFrame with ``frame, timestamp, [face_id,] <valid>, columns...``."""
        import pandas as pd

        data: dict[str, Any] = {"frame": self.frame, "timestamp": self.timestamp}
        if self.face_id is not None:
            data["face_id"] = self.face_id
        data[self.valid_column] = self.valid.astype(np.int8)
        df = pd.DataFrame(data)
        values = pd.DataFrame(self.values, columns=self.columns)
        return pd.concat([df, values], axis=1)


class Accumulator(ABC):
    """Per-video state of one feature set: fed during the decode pass, then finished.

    Made by :meth:`FeatureSet.accumulator` for one video and never shared between threads
    or videos (what a set needs to share, its config and loaded weights, stays on the
    :class:`FeatureSet`).

    Attributes
    ----------
    needs_faces : bool
        For an accumulator passed to :meth:`vafusion.extraction.Pipeline.process` as an
        ``extra``: the pass must run the face tracker (a set's accumulator follows its set).
    """

    needs_faces: ClassVar[bool] = False

    def push(self, frame: VideoFrame, faces: list[FaceObservation]) -> None:  # noqa: B027
        """One decoded frame and the faces tracked in it (sets with ``needs_frames``)."""

    @abstractmethod
    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """The video's table, after its last frame.

        Parameters
        ----------
        info : VideoInfo
        timestamps : numpy.ndarray, shape (n_frames,), float64
            Time of every decoded frame on the video time axis.
        """


class FeatureSet(ABC):
    """A feature set: settings and loaded weights, shareable by every video and thread.

    Subclasses set the class attributes and register in
    :data:`vafusion.extraction.registry.FEATURE_SETS`.

    Attributes
    ----------
    name : str
        Feature-set name (store key, column prefix).
    config_class : type
        Its frozen config dataclass.
    needs_frames : bool
        Accumulators receive every decoded frame (``push``).
    needs_faces : bool
        The decode pass runs the face tracker (implies ``needs_frames``).
    version : str
        Bumped whenever the set's outputs change for the same settings.
    output_only : tuple of str
        Config fields that only write side outputs (not part of the key).
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    needs_frames: ClassVar[bool] = False
    needs_faces: ClassVar[bool] = False
    version: ClassVar[str] = "1"
    output_only: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise ConfigError(
                f"feature set {self.name!r} takes a {self.config_class.__name__}, "
                f"got {type(self.config).__name__}"
            )

    @property
    @abstractmethod
    def columns(self) -> list[str]:
        """Output column names, length ``D``."""

    @abstractmethod
    def accumulator(self, source: FrameSource) -> Accumulator:
        """A fresh accumulator for one video read from ``source`` (audio sets decode the
        audio from it; side outputs are named after it)."""

    def identity(self) -> dict[str, Any]:
        """Everything of this set that changes its outputs (enters its store key)."""
        from vafusion.config import config_to_dict

        cfg = config_to_dict(self.config)
        for key in self.output_only:
            cfg.pop(key, None)
        return {"set": self.name, "version": self.version, "config": cfg}

    def config_dict(self) -> dict[str, Any]:
        """The config as a JSON-compatible dict (recorded in stores and checkpoints)."""
        from vafusion.config import config_to_dict

        return config_to_dict(self.config)

    def close(self) -> None:  # noqa: B027
        """Release loaded resources (default: nothing to release)."""
