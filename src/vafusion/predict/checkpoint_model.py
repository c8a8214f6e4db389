"""Predict with a model trained by ``vafusion train`` (a checkpoint file or run folder).

The checkpoint carries the training config, the :class:`~vafusion.data.sequences.FeatureSpec`
(modalities, feature-store set names, column names) and the normalisation statistics. For
each video the feature sets the model reads are extracted in one decode pass with
:func:`vafusion.features.pipeline.extract_features`, using the extractor configs stored in
the checkpoint under ``feature_configs`` when present (else the extractors' defaults, which
are the configs the feature store uses unless told otherwise; ``vafusion train`` records
``{set: {"config", "config_hash", ...}}`` and the rebuilt extractor must have that hash);
the columns are checked against the spec. The subject is chosen with
:func:`vafusion.faces.subjects.select_face`, the video is cut into the training windows
(length/stride from the config), and the overlapping window outputs are averaged back to
frames.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from vafusion.errors import ModelError
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
        from vafusion.features.pipeline import FEATURE_SETS
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

    def _extractors(self) -> list:
        from vafusion.config import config_from_dict
        from vafusion.errors import ConfigError
        from vafusion.features.pipeline import make_extractor

        out = []
        for set_name in dict.fromkeys(self.sets.values()):
            ext = make_extractor(set_name)
            saved = self.feature_configs.get(set_name)
            want_hash = None
            if isinstance(saved, dict) and "config_hash" in saved:  # written by vafusion train
                want_hash, saved = saved["config_hash"], saved.get("config")
            if saved is not None and hasattr(ext, "config"):
                try:
                    cfg = config_from_dict(type(ext.config), saved, f"feature_configs.{set_name}")
                except ConfigError as exc:
                    raise ModelError(f"checkpoint's {exc.message}", self.path) from None
                ext = make_extractor(set_name, cfg)
            if want_hash is not None and ext.config_hash() != want_hash:
                raise ModelError(
                    f"feature set {set_name!r}: this extractor's config hash "
                    f"{ext.config_hash()} differs from the one the model was trained on "
                    f"({want_hash}): the features would not be the same",
                    self.path,
                )
            out.append(ext)
        return out

    def predict_video(self, path: str | os.PathLike, face: str | int = "main") -> VideoPrediction:
        """Per-frame valence/arousal of one video with the checkpoint's model."""
        from vafusion.data.sequences import VideoData, WindowData
        from vafusion.data.sources import dense_table, frame_timestamps
        from vafusion.faces.subjects import select_face
        from vafusion.features.pipeline import extract_features
        from vafusion.train.predict import predict_frames

        t0 = time.perf_counter()
        extractors = self._extractors()
        boxes = BoxRecorder()
        info, tables = extract_features(path, [*extractors, boxes])
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
