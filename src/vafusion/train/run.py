"""The public training/evaluation API over the dataset layouts and the feature store."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vafusion.config import config_from_dict
from vafusion.data.memory_budget import choose_in_memory, feature_bytes
from vafusion.data.normalize import Normalizer
from vafusion.data.sequences import (
    FeatureSpec,
    VideoData,
    WindowData,
)
from vafusion.data.sources import canonical_split, feature_configs, load_split
from vafusion.data.splits import dev_split
from vafusion.errors import ConfigError, ModelError
from vafusion.fileio import (
    atomic_write_text,
    check_output_folder,
    confined,
    json_text,
    safe_stem,
)
from vafusion.log import get_logger
from vafusion.models.registry import build_model, model_modalities
from vafusion.smoothing import Smoothing
from vafusion.train.checkpoint import load_checkpoint
from vafusion.train.config import TrainConfig, with_overrides
from vafusion.train.loop import RunResult, fit
from vafusion.train.metrics import ccc, ccc_va
from vafusion.train.predict import predict_frames

log = get_logger("train")


def _feature_sets(config: TrainConfig) -> dict[str, str]:
    mods = model_modalities(config.model.name)
    fs = config.data.feature_sets
    missing = [m for m in mods if m not in fs]
    if missing:
        raise ConfigError(f"data.feature_sets has no entry for {missing}")
    return {m: fs[m] for m in mods}


def train(
    config: TrainConfig,
    data_root: str | os.PathLike,
    store_root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    resume: bool = False,
) -> RunResult:
    """Train ``config.model`` on a dataset's training split with features from a store.

    Parameters
    ----------
    config : TrainConfig
    data_root : path
        Dataset root (Aff-Wild2 / AFEW-VA / CSV layout).
    store_root : path
        Feature store with the model's feature sets for every video.
    out : path
        Run folder.
    resume : bool
        Continue from ``out/last.pt``.

    Returns
    -------
    RunResult
    """
    from vafusion.datasets import load_dataset

    check_output_folder(out)  # before any work: one line, not a traceback
    ds = load_dataset(data_root)
    fs = _feature_sets(config)
    kw = dict(
        mismatch_frames=config.data.mismatch_frames,
        mismatch_fraction=config.data.mismatch_fraction,
        dataset=ds,
    )
    train_videos, spec = load_split(data_root, store_root, config.data.train_split, fs, **kw)
    if not train_videos:
        raise ConfigError(f"no {config.data.train_split!r} entries in the dataset", data_root)
    val_videos: list[VideoData] = []
    val_split = canonical_split(config.data.val_split)
    if any(e.split == val_split for e in ds.items):
        val_videos, vspec = load_split(data_root, store_root, val_split, fs, **kw)
        if vspec.dims != spec.dims:
            raise ModelError(f"validation features {vspec.dims} differ from training {spec.dims}")
    train_videos, dev_videos = dev_split(train_videos, config.data.dev_fraction, config.seed)
    tune_videos = dev_videos if dev_videos else val_videos
    log.info(
        "training %s on %d videos (%d frames); early stopping and tuning on %d %s videos",
        config.model.name, len(train_videos), sum(v.n_frames for v in train_videos),
        len(tune_videos), "development" if dev_videos else "validation",
    )  # fmt: skip
    provenance = feature_configs(store_root, train_videos + dev_videos + val_videos, fs)
    result = fit(
        config, train_videos, tune_videos, spec, out, resume=resume, feature_configs=provenance
    )
    if dev_videos and val_videos and (Path(out) / "best.pt").is_file():
        result.validation = _final_validation(Path(out), val_videos)
    return result


def _final_validation(run: Path, videos: list[VideoData]) -> dict[str, Any]:
    """CCC of the best checkpoint on the untouched validation split (raw and smoothed);
    added to ``result.json`` under ``validation``."""
    model, ckpt = load_model(run)
    config: TrainConfig = ckpt["config"]
    dc = config.data
    in_memory = choose_in_memory(
        config.data_memory, feature_bytes(videos, ckpt["spec"], dc.window, dc.stride)
    )
    data = WindowData(
        videos, ckpt["spec"], ckpt["normalizer"], dc.window, dc.stride, in_memory=in_memory,
        per_video=dc.per_video_norm,
    )  # fmt: skip
    raw = predict_frames(model, data, config.eval_batch_size)
    smoothing = checkpoint_smoothing(ckpt)
    smoothed = [smoothing.apply(p, v.times) for p, v in zip(raw, videos, strict=True)]
    y = np.concatenate([v.labels for v in videos])
    out = {
        "raw": {k: _num(x) for k, x in ccc_va(np.concatenate(raw), y).items()},
        "smoothed": {k: _num(x) for k, x in ccc_va(np.concatenate(smoothed), y).items()},
        "n_videos": len(videos),
    }
    f = run / "result.json"
    doc = json.loads(f.read_text())
    doc["validation"] = out
    atomic_write_text(f, json_text(doc))
    log.info(
        "validation (untouched until now): CCC %.4f raw, %.4f smoothed",
        out["raw"]["ccc_mean"] or float("nan"), out["smoothed"]["ccc_mean"] or float("nan"),
    )  # fmt: skip
    return out


def load_model(run: str | os.PathLike, device: str = "cpu"):
    """Load a trained model from a run folder or checkpoint file.

    Returns
    -------
    model : torch.nn.Module
        In eval mode.
    checkpoint : dict
        With ``config`` (TrainConfig), ``spec`` (FeatureSpec), ``normalizer`` (Normalizer).

    Raises
    ------
    ModelError
        Missing, corrupt or foreign checkpoint, or weights not matching the architecture.
    """
    ckpt = load_checkpoint(run)
    path = ckpt["path"]
    try:
        config = config_from_dict(TrainConfig, ckpt["config"])
    except ConfigError as exc:
        raise ModelError(f"checkpoint config invalid: {exc.message}", path) from None
    spec = FeatureSpec.from_dict(ckpt["spec"])
    normalizer = Normalizer.from_state(ckpt["normalizer"])
    model = build_model(config.model, spec)
    try:
        model.load_state_dict(ckpt["model_state"])
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise ModelError(f"weights do not fit the model: {first}", path) from None
    model.to(device).eval()
    ckpt.update(config=config, spec=spec, normalizer=normalizer)
    return model, ckpt


def checkpoint_smoothing(ckpt: dict[str, Any]) -> Smoothing:
    """The output smoothing a checkpoint carries (identity for checkpoints without one)."""
    try:
        return Smoothing.from_dict(ckpt.get("smoothing"))
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"checkpoint smoothing invalid: {exc}", ckpt.get("path")) from None


def evaluate_videos(
    model: torch.nn.Module,
    ckpt: dict[str, Any],
    videos: list[VideoData],
    out: str | os.PathLike,
    *,
    smoothing: Smoothing | None = None,
    batch_size: int = 512,
    device: str = "cpu",
    extra: dict[str, Any] | None = None,
    fmt: str = "csv",
) -> dict[str, Any]:
    """Predict, write prediction files and ``metrics.json`` (see :func:`evaluate`)."""
    from vafusion.datasets.abaw import FORMAT, write_abaw

    if fmt not in ("csv", FORMAT):
        raise ConfigError(f"--format must be csv or {FORMAT}, got {fmt!r}")
    out = Path(out)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    if fmt == FORMAT:
        (out / FORMAT).mkdir(parents=True, exist_ok=True)
    config: TrainConfig = ckpt["config"]
    spec: FeatureSpec = ckpt["spec"]
    for mod in spec.modalities:
        for v in videos:
            if mod not in v.features:
                raise ModelError(f"video {v.name!r} lacks modality {mod!r} needed by the model")
            if v.features[mod].shape[1] != spec.dims[mod]:
                raise ModelError(
                    f"video {v.name!r}: {mod} has {v.features[mod].shape[1]} columns, the "
                    f"model was trained on {spec.dims[mod]}"
                )
    dc = config.data
    in_memory = choose_in_memory(
        config.data_memory, feature_bytes(videos, spec, dc.window, dc.stride)
    )
    data = WindowData(
        videos, spec, ckpt["normalizer"], dc.window, dc.stride, in_memory=in_memory,
        per_video=dc.per_video_norm,
    )  # fmt: skip
    preds = predict_frames(model, data, batch_size, device)
    if smoothing is not None:
        preds = [smoothing.apply(p, v.times) for p, v in zip(preds, videos, strict=True)]
    per_video: dict[str, Any] = {}
    all_p, all_y = [], []
    for v, p in zip(videos, preds, strict=True):
        y = v.labels if v.labels is not None else np.full_like(p, np.nan)
        _write_prediction_csv(confined(out / "predictions", f"{v.name}.csv"), p, y)
        if fmt == FORMAT:  # v.name is the annotation's: <video>[_left|_right]
            write_abaw(confined(out / FORMAT, f"{v.name}.txt"), p)
        if v.labels is not None:
            used = int(np.isfinite(y).all(axis=1).sum())
            per_video[v.name] = {
                "ccc_valence": _num(ccc(p[:, 0], y[:, 0])),
                "ccc_arousal": _num(ccc(p[:, 1], y[:, 1])),
                "n_frames": used,
            }
            all_p.append(p)
            all_y.append(y)
    _write_plots(out, videos, preds)
    metrics: dict[str, Any] = {"ccc_valence": None, "ccc_arousal": None, "ccc_mean": None}
    n_used = 0
    if all_p:
        y = np.concatenate(all_y)
        metrics = {k: _num(v) for k, v in ccc_va(np.concatenate(all_p), y).items()}
        n_used = int(np.isfinite(y).any(axis=1).sum())
    result = {
        **metrics,
        "n_frames": n_used,
        "n_videos": len(videos),
        "smoothing": {
            "applied": smoothing is not None and not smoothing.is_identity,
            **(smoothing or checkpoint_smoothing(ckpt)).to_dict(),
        },
        "model": config.model.name,
        "checkpoint": ckpt.get("path"),
        **(extra or {}),
        "per_video": per_video,
    }
    atomic_write_text(out / "metrics.json", json_text(result))
    return result


def evaluate(
    run: str | os.PathLike,
    data_root: str | os.PathLike,
    store_root: str | os.PathLike,
    split: str = "val",
    out: str | os.PathLike = "eval",
    *,
    smooth: bool = True,
    device: str = "cpu",
    data_memory: str | None = None,
    fmt: str = "csv",
) -> dict[str, Any]:
    """Evaluate a trained run on one split.

    Writes ``out/predictions/<name>.csv`` (``frame, valence, arousal, valence_true,
    arousal_true``; true values empty where not annotated), with ``fmt="abaw"`` also
    ``out/abaw/<name>.txt`` (the challenge's submission format, :mod:`vafusion.datasets.abaw`:
    ``valence,arousal`` header, one line per frame; ``<name>`` keeps ``_left`` / ``_right``),
    ``out/plots/`` (``<name>.png``: predicted vs true over time per annotated video;
    ``scatter.png``: predicted against true over the split) and ``out/metrics.json``
    (``ccc_valence``, ``ccc_arousal``, ``ccc_mean`` over all annotated frames of the split
    concatenated, ``n_frames`` used, ``per_video`` CCC).

    Parameters
    ----------
    run : path
        Run folder (uses ``best.pt``) or checkpoint file.
    split : str
        ``val`` / ``validation``, ``train`` or ``test``.
    smooth : bool, default True
        Apply the output smoothing the checkpoint carries (tuned on the development split at
        the end of training); False gives the model's raw outputs. ``metrics.json`` records
        which (``smoothing.applied``).
    data_memory : {"auto", "ram", "mmap"}, optional
        Override the run's ``data_memory`` (see :class:`TrainConfig`).
    fmt : {"csv", "abaw"}
        ``abaw`` adds the challenge's submission files.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    run = Path(run)
    check_output_folder(out)  # before any work: one line, not a traceback
    model, ckpt = load_model(run, device)
    if data_memory is not None:
        ckpt["config"] = with_overrides(ckpt["config"], data_memory=data_memory)
    config: TrainConfig = ckpt["config"]
    spec: FeatureSpec = ckpt["spec"]
    fs = spec.feature_sets or {m: config.data.feature_sets[m] for m in spec.modalities}
    videos, vspec = load_split(
        data_root, store_root, split, fs,
        mismatch_frames=config.data.mismatch_frames,
        mismatch_fraction=config.data.mismatch_fraction,
    )  # fmt: skip
    if not videos:
        raise ConfigError(f"no {split!r} entries in the dataset", data_root)
    for m in spec.modalities:
        if spec.columns.get(m) and vspec.columns.get(m) != spec.columns[m]:
            raise ModelError(f"{m!r} feature columns differ from the ones the model was trained on")
    smoothing = checkpoint_smoothing(ckpt) if smooth else None
    return evaluate_videos(
        model, ckpt, videos, out, smoothing=smoothing, batch_size=config.eval_batch_size,
        device=device, extra={"split": canonical_split(split)}, fmt=fmt,
    )  # fmt: skip


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _write_plots(out: Path, videos: list[VideoData], preds: list[np.ndarray]) -> None:
    """``out/plots/<name>.png`` (predicted vs true over time) per annotated video and
    ``out/plots/scatter.png`` (predicted against true, all annotated frames)."""
    from vafusion.fileio import atomic_write_bytes
    from vafusion.report.eval_plots import scatter_figure, video_figure

    labelled = [(v, p) for v, p in zip(videos, preds, strict=True) if v.labels is not None]
    if not labelled:
        return
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for v, p in labelled:
        png = video_figure(np.asarray(v.times), p, v.labels, title=v.name)
        atomic_write_bytes(confined(out / "plots", f"{safe_stem(v.name)}.png"), png)
    pred = np.concatenate([p for _, p in labelled])
    true = np.concatenate([v.labels for v, _ in labelled])
    atomic_write_bytes(out / "plots" / "scatter.png", scatter_figure(pred, true))


def _write_prediction_csv(path: Path, p: np.ndarray, y: np.ndarray) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "valence", "arousal", "valence_true", "arousal_true"])
    for i in range(len(p)):
        yt = ["" if not np.isfinite(t) else f"{t:.6f}" for t in y[i]]
        w.writerow([i, f"{p[i, 0]:.6f}", f"{p[i, 1]:.6f}", *yt])
    atomic_write_text(path, buf.getvalue())
