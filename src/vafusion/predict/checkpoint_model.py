"""Predict with a model trained by ``vafusion train`` (a checkpoint file or run folder).

The checkpoint carries the training config, the :class:`~vafusion.data.sequences.FeatureSpec`
(modalities, feature-store set names, column names) and the normalisation statistics, and
under ``feature_configs`` the provenance of the features it was trained on (``vafusion
train`` records ``{set: {"pipeline", "config_hash", ...}}``, see
:func:`vafusion.data.sources.feature_configs`). The model rebuilds exactly that extraction
:class:`~vafusion.extraction.Pipeline` once, when it loads (its keys must equal the recorded
ones), and every video's sets are extracted with it in one decode pass; the columns are
checked against the spec. The subject is chosen with
:func:`vafusion.faces.subjects.select_face`, the video is cut into the training windows
(length/stride from the config), and the overlapping window outputs are averaged back to
frames.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from vafusion.config import config_from_dict
from vafusion.errors import ConfigError, ModelError
from vafusion.extraction.config import PipelineConfig
from vafusion.extraction.pipeline import Pipeline, PipelinePool
from vafusion.faces.tracker import TrackerConfig
from vafusion.log import get_logger
from vafusion.predict.boxes import BoxRecorder, dense_boxes
from vafusion.predict.types import FaceCurve, VideoPrediction

log = get_logger("predict")


class CheckpointModel:
    """A trained valence-arousal model applied to raw videos.

    Parameters
    ----------
    path : str or PathLike
        ``best.pt`` / ``last.pt`` or a run folder containing one.
    smooth : bool, default True
        Apply the output smoothing the checkpoint carries (:class:`vafusion.smoothing.Smoothing`,
        tuned at the end of training; the same curve ``vafusion evaluate`` gives); False
        gives the raw model outputs.

    Raises
    ------
    ModelError
        Unreadable checkpoint, unknown model name, or feature sets predict cannot extract.
    """

    def __init__(self, path: str | os.PathLike, smooth: bool = True) -> None:
        t0 = time.perf_counter()
        from vafusion.data.normalize import Normalizer
        from vafusion.data.sequences import FeatureSpec
        from vafusion.extraction import FEATURE_SETS
        from vafusion.models.registry import build_model
        from vafusion.train.checkpoint import load_checkpoint
        from vafusion.train.config import train_config_from_dict
        from vafusion.train.run import checkpoint_smoothing

        data = load_checkpoint(path)
        self.path = data["path"]
        self.config = train_config_from_dict(data["config"])
        self.spec = FeatureSpec.from_dict(data["spec"])
        self.normalizer = Normalizer.from_state(data["normalizer"])
        self.feature_configs: dict[str, Any] = dict(data.get("feature_configs") or {})
        self.smoothing = checkpoint_smoothing(data) if smooth else None
        self.net = build_model(self.config.model, self.spec)
        try:
            self.net.load_state_dict(data["model_state"])
        except (RuntimeError, KeyError) as exc:
            msg = str(exc).splitlines()[0][:160]
            raise ModelError(f"weights do not fit the model ({msg})", self.path) from None
        self.net.eval()
        self.sets = {m: self.spec.feature_sets.get(m, m) for m in self.spec.modalities}
        unknown = sorted(s for s in self.sets.values() if s not in FEATURE_SETS)
        if unknown:
            raise ModelError(
                f"model reads feature set(s) {', '.join(unknown)} that predict cannot "
                f"extract (known: {', '.join(FEATURE_SETS)})",
                self.path,
            )
        self.pipelines = PipelinePool(self._build_pipeline())
        self.name = os.path.basename(str(self.path))
        self.description = (
            f"checkpoint {self.path}: model {self.config.model.name!r} on "
            f"{', '.join(self.spec.modalities)}"
        )
        self.load_s = time.perf_counter() - t0

    def describe(self) -> dict[str, Any]:
        """JSON-compatible description for summaries."""
        return {
            "name": self.name,
            "description": self.description,
            "checkpoint": str(self.path),
            "modalities": list(self.spec.modalities),
            "smoothing": {
                "applied": self.smoothing is not None and not self.smoothing.is_identity,
                **(self.smoothing.to_dict() if self.smoothing is not None else {}),
            },
        }

    def _build_pipeline(self) -> Pipeline:
        """The extraction pipeline the model was trained on (see :func:`recorded_pipeline`)."""
        sets = list(dict.fromkeys(self.sets.values()))
        try:
            config, want = recorded_pipeline(self.feature_configs, sets)
        except ConfigError as exc:
            raise ModelError(f"checkpoint's {exc.message}", self.path) from None
        pipe = Pipeline(config)
        for name, key in want.items():
            if pipe.keys()[name] != key:
                pipe.close()
                raise ModelError(
                    f"feature set {name!r}: this installation's key {pipe.keys()[name]} "
                    f"differs from the one the model was trained on ({key}), e.g. other "
                    "model weights: the features would not be the same",
                    self.path,
                )
        return pipe

    def close(self) -> None:
        """Release the pipelines' face trackers."""
        self.pipelines.close()

    def predict_video(self, path: str | os.PathLike, face: str | int = "main") -> VideoPrediction:
        """Per-frame valence/arousal of one video with the checkpoint's model."""
        from vafusion.data.sequences import VideoData, WindowData
        from vafusion.data.sources import dense_table, frame_timestamps
        from vafusion.faces.subjects import select_face
        from vafusion.train.predict import predict_frames

        t0 = time.perf_counter()
        boxes = BoxRecorder()
        with self.pipelines.acquire() as pipe:
            result = pipe.process(path, extra=[boxes])
        info, tables = result.info, result.tables
        n = info.n_frames
        timestamps = frame_timestamps(tables, n)
        if timestamps is None:
            raise ModelError("feature tables do not cover every frame", path)
        for m, s in self.sets.items():
            want = self.spec.columns.get(m)
            if want and list(tables[s].columns) != list(want):
                raise ModelError(
                    f"feature set {s!r} columns differ from the model's (different extractor "
                    "version or config)",
                    self.path,
                )
        box_ids = sorted(set(tables[boxes.name].face_id.tolist()))
        face_tables = [
            s for s in dict.fromkeys(self.sets.values()) if tables[s].face_id is not None
        ]
        if face == "all":
            ids: list[int | None] = box_ids or [None]
        elif face_tables:
            ref = tables[face_tables[0]]
            sel = select_face(ref, n, timestamps, face) if box_ids else None
            fid = sel.meta.get("selected_face") if sel is not None else None
            ids = [fid]
        else:
            ids = [None]
        faces = []
        warnings: list[str] = []
        for fid in ids:
            feats, valid = {}, {}
            for m, s in self.sets.items():
                tab = tables[s]
                if tab.face_id is not None and fid is None:
                    feats[m] = np.full((n, tab.dim), np.nan, np.float32)
                    valid[m] = np.zeros(n, bool)
                    continue
                if tab.face_id is not None:
                    tab = select_face(tab, n, timestamps, fid)
                feats[m], valid[m] = dense_table(tab, n)
            vd = VideoData(name=str(path), n_frames=n, features=feats, valid=valid)
            dc = self.config.data
            wd = WindowData(
                [vd], self.spec, self.normalizer, dc.window, dc.stride,
                per_video=dc.per_video_norm,
            )  # fmt: skip
            va = predict_frames(self.net, wd)[0].astype(np.float32)
            if self.smoothing is not None:  # on every frame, as evaluate does
                va = self.smoothing.apply(va, timestamps)
            face_mods = [m for m, s in self.sets.items() if tables[s].face_id is not None]
            ok = (
                np.logical_or.reduce([valid[m] for m in face_mods])
                if face_mods
                else np.logical_or.reduce(list(valid.values()))
            )
            va = np.clip(va, -1, 1)
            va[~ok] = np.nan
            bbox = dense_boxes(tables[boxes.name], fid, n)
            faces.append(FaceCurve(-1 if fid is None else int(fid), ok, va, bbox))
        if not box_ids and face_tables:
            warnings.append("no face found in the video: valence and arousal are all missing")
        stats = {
            "process_s": time.perf_counter() - t0,
            "tracks": len(box_ids),
            "frames_with_face": int(len(set(tables[boxes.name].frame.tolist()))),
        }
        return VideoPrediction(info, np.asarray(timestamps), faces, stats, warnings)


def recorded_pipeline(
    feature_configs: dict[str, Any], sets: list[str]
) -> tuple[PipelineConfig, dict[str, str]]:
    """The pipeline config recorded in a checkpoint, and the keys it must give.

    Parameters
    ----------
    feature_configs : dict
        The checkpoint's ``feature_configs``: per set ``{"pipeline": PipelineConfig dict,
        "config_hash": store key}`` (older checkpoints: ``{"config", "config_hash"}`` of
        the set alone, rebuilt with the default decoder and tracker and not key-checked).
    sets : list of str
        The sets the model reads.

    Returns
    -------
    config : PipelineConfig
    keys : dict of str to str
        Set -> the store key it was trained on (sets recorded with a pipeline only).

    Raises
    ------
    ConfigError
        The sets were extracted with different decoder or tracker settings, or a recorded
        config is invalid.
    """
    decoders, trackers, configs, keys = [], [], {}, {}
    for name in sets:
        saved = feature_configs.get(name)
        if isinstance(saved, dict) and isinstance(saved.get("pipeline"), dict):
            one = PipelineConfig.from_dict(saved["pipeline"], f"feature_configs.{name}")
            decoders.append(one.decoder)
            trackers.append(one.faces)
            configs[name] = one.sets[name]
            keys[name] = str(saved.get("config_hash"))
        elif isinstance(saved, dict) and isinstance(saved.get("config"), dict):
            legacy = dict(saved["config"])
            if "tracker" in legacy:  # facepose configs used to hold the tracker settings
                trackers.append(config_from_dict(TrackerConfig, legacy.pop("tracker"), name))
            configs[name] = legacy
    for what, seen in (("decoder", decoders), ("face tracker", trackers)):
        if len(set(seen)) > 1:
            raise ConfigError(
                f"feature sets {', '.join(sets)} were extracted with different {what} settings"
            )
    config = PipelineConfig(features=tuple(sets), sets=configs)
    if decoders or trackers:
        config = PipelineConfig(
            features=config.features,
            decoder=decoders[0] if decoders else config.decoder,
            faces=trackers[0] if trackers else config.faces,
            sets=config.sets,
        )
    return config, keys
