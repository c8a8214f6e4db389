"""The training loop: seeded, resumable, early-stopped on validation CCC, DDP-ready.

Reproducibility contract
    Initialisation is seeded by ``config.seed``; the window order of epoch ``e`` is
    ``torch.randperm`` seeded by ``seed + e`` (exactly :class:`DistributedSampler`'s), and the
    dropout masks of step ``k`` come from generators seeded by ``(seed, e, k, layer)``. Nothing
    else is random, so a run resumed from ``last.pt`` continues exactly as the uninterrupted
    run, and N processes give one process's result up to floating-point summation order.

DDP
    The global batch ``batch_size`` is split across ``W`` processes (``batch_size % W == 0``);
    rank ``r`` gets windows ``perm[r::W]`` (DistributedSampler), so the union of the local
    batches of step ``k`` is the single-process batch ``k``. The sampler's padding
    duplicates are masked out. Batch-norm statistics and the loss are computed from sums
    all-reduced over processes, and each process draws the dropout masks of the whole
    global batch and keeps its rows, so the gradient equals the single-process one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vafusion.config import config_to_dict
from vafusion.data.normalize import Normalizer
from vafusion.data.sequences import (
    FeatureSpec,
    VideoData,
    WindowData,
    choose_in_memory,
    feature_bytes,
    fit_normalizer,
)
from vafusion.errors import ConfigError, ModelError
from vafusion.fileio import atomic_write_text, remove_dead_temporaries
from vafusion.log import get_logger, progress_bar
from vafusion.models.layers import all_reduce_sum
from vafusion.models.registry import build_model, model_modalities
from vafusion.smoothing import LAG_CANDIDATES, TAU_CANDIDATES, Smoothing, tune_smoothing
from vafusion.train.checkpoint import load_checkpoint, save_checkpoint
from vafusion.train.config import TrainConfig, resume_compatible
from vafusion.train.distributed import DistInfo, broadcast_floats, init_distributed, shutdown
from vafusion.train.metrics import ccc_from_moments, ccc_moments_torch, ccc_va
from vafusion.train.predict import predict_frames

log = get_logger("train")

LOG_FIELDS = (
    "epoch",
    "train_loss",
    "val_ccc_valence",
    "val_ccc_arousal",
    "val_ccc_mean",
    "epoch_seconds",
    "load_share",
)


@dataclass
class RunResult:
    """What a training run produced.

    Attributes
    ----------
    run_dir : Path
        Run folder (``best.pt``, ``last.pt``, ``log.csv``, ``config.yaml``, ``result.json``).
    best_epoch : int
        Epoch of the best validation CCC, counted from 1 as on the console, in ``log.csv``
        and ``result.json`` (the last epoch without validation data).
    best_metrics : dict
        ``ccc_valence``, ``ccc_arousal``, ``ccc_mean`` at ``best_epoch`` on the early-stopping
        split (the development split when there is one, else validation).
    epochs_run : int
        Epochs completed in total (including those before a resume).
    stopped_early : bool
    history : list of dict
        One row per epoch (the ``log.csv`` columns).
    smoothing : Smoothing
        Output smoothing tuned on the early-stopping split at the end of training (saved in
        ``best.pt`` and applied by ``evaluate`` and ``predict --model``).
    validation : dict, optional
        With a development split: the best model's CCC on the untouched validation split
        (``raw`` and ``smoothed``), computed once at the end.
    """

    run_dir: Path
    best_epoch: int
    best_metrics: dict[str, float]
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    smoothing: Smoothing = field(default_factory=Smoothing)
    validation: dict[str, Any] | None = None

    @property
    def checkpoint(self) -> Path:
        """Path of the best checkpoint."""
        return self.run_dir / "best.pt"


def step_seed(seed: int, epoch: int, step: int) -> int:
    """Seed of the dropout generator of one step (same on every process)."""
    return (seed * 1_000_003 + epoch * 65_537 + step * 7 + 12_345) % (2**63 - 1)


def _compute_loss(
    pred: torch.Tensor, batch: dict[str, torch.Tensor], kind: str, group: object | None
) -> torch.Tensor:
    """Masked loss of the *global* batch from (all-reduced) sums.

    ``pred`` (B, L, 2); ``batch["y"]`` (B, L, 2); ``batch["y_mask"]`` (B, L, 2).
    """
    y, w = batch["y"], batch["y_mask"].to(pred.dtype)
    parts = [((pred - y) ** 2 * w).sum().reshape(1), w.sum().reshape(1)]
    if "ccc" in kind:
        parts.append(ccc_moments_torch(pred, y, w).reshape(-1))
    sums = torch.cat(parts)
    sums = all_reduce_sum(sums, group)
    loss = pred.new_zeros(())
    if "mse" in kind:
        loss = loss + sums[0] / sums[1].clamp_min(1.0)
    if "ccc" in kind:
        loss = loss + (1.0 - ccc_from_moments(sums[2:].reshape(6, 2)).mean())
    return loss


def _make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":  # Keras' RMSprop defaults (rho 0.9, epsilon 1e-7)
        return torch.optim.RMSprop(params, lr=config.lr, alpha=0.9, eps=1e-7)
    return torch.optim.Adam(params, lr=config.lr)


def _set_threads(config: TrainConfig, info: DistInfo) -> None:
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    elif info.enabled:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(info.local_world, 1)))


def _device(config: TrainConfig, info: DistInfo) -> torch.device:
    if config.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda requested but CUDA is not available")
        return torch.device(f"cuda:{info.local_rank}" if info.enabled else config.device)
    return torch.device("cpu")


def _write_log(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def _validate(
    model: nn.Module, val_data: WindowData | None, config: TrainConfig, device: torch.device
) -> tuple[dict[str, float] | None, list[np.ndarray]]:
    if val_data is None or val_data.n_label_frames == 0:
        return None, []
    preds = predict_frames(model, val_data, config.eval_batch_size, device)
    labels = [v.labels for v in val_data.videos]
    metrics = ccc_va(np.concatenate(preds), np.concatenate(labels))
    return metrics, preds


def fit(
    config: TrainConfig,
    train_videos: list[VideoData],
    val_videos: list[VideoData] | None,
    spec: FeatureSpec,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    feature_configs: dict[str, Any] | None = None,
) -> RunResult:
    """Train on loaded videos (the core of :func:`train`; usable from a notebook).

    Parameters
    ----------
    config : TrainConfig
    train_videos, val_videos : list of VideoData
        Training and validation videos (validation drives early stopping; may be empty).
    spec : FeatureSpec
        Input modalities and dimensions (must cover the model's modalities).
    out : path
        Run folder; created if needed.
    resume : bool
        Continue from ``out/last.pt`` if it exists (same config apart from
        ``epochs``/``device``/threads), giving the same result as an uninterrupted run.
    feature_configs : dict, optional
        Provenance of the features, saved in every checkpoint under ``feature_configs``
        (see :func:`vafusion.data.sources.feature_configs`; read by ``vafusion predict
        --model`` to extract the same features).

    Returns
    -------
    RunResult
    """
    out = Path(out)
    mods = model_modalities(config.model.name)
    missing = [m for m in mods if m not in spec.dims]
    if missing:
        raise ModelError(f"model {config.model.name!r} needs features {missing} not in the data")
    spec = FeatureSpec(
        dims={m: spec.dims[m] for m in mods},
        columns={m: spec.columns[m] for m in mods if m in spec.columns},
        feature_sets={m: spec.feature_sets[m] for m in mods if m in spec.feature_sets},
    )
    if not train_videos:
        raise ConfigError("no training videos")
    info = init_distributed(config.device)
    try:
        return _fit(
            config, train_videos, val_videos or [], spec, out, resume, info,
            feature_configs or {},
        )  # fmt: skip
    finally:
        shutdown(info)


def _fit(
    config: TrainConfig,
    train_videos: list[VideoData],
    val_videos: list[VideoData],
    spec: FeatureSpec,
    out: Path,
    resume: bool,
    info: DistInfo,
    feature_configs: dict[str, Any],
) -> RunResult:
    if config.batch_size % info.world:
        raise ConfigError(
            f"batch_size {config.batch_size} must be divisible by the {info.world} processes "
            "(it is the global batch)"
        )
    _set_threads(config, info)
    device = _device(config, info)
    cfg_dict = config_to_dict(config)
    ckpt = None
    last = out / "last.pt"
    if resume and last.is_file():
        ckpt = load_checkpoint(last)
        diff = resume_compatible(ckpt["config"], config)
        saved_fc = ckpt.get("feature_configs") or {}
        if saved_fc and feature_configs and saved_fc != feature_configs:
            diff.append("feature_configs (the store's extractor configs)")
        if diff:
            raise ConfigError(f"cannot resume {last}: config differs in {', '.join(diff)}")
    elif resume and info.is_main:
        log.info("no %s to resume from; starting a new run", last)

    normalizer = (
        Normalizer.from_state(ckpt["normalizer"])
        if ckpt
        else fit_normalizer(train_videos, spec.modalities)
    )
    dc = config.data
    n_bytes = feature_bytes([*train_videos, *val_videos], spec, dc.window, dc.stride)
    in_memory = choose_in_memory(config.data_memory, n_bytes)
    if info.is_main:
        log.info(
            "training windows %s (%.2f GB of features)",
            "packed in RAM" if in_memory else "read per batch from memory maps", n_bytes / 1e9,
        )  # fmt: skip
    kw = {"in_memory": in_memory, "per_video": dc.per_video_norm}
    train_data = WindowData(train_videos, spec, normalizer, dc.window, dc.stride, **kw)
    val_data = (
        WindowData(val_videos, spec, normalizer, dc.window, dc.stride, **kw) if val_videos else None
    )

    torch.manual_seed(config.seed)
    core = build_model(config.model, spec).to(device)
    optimizer = _make_optimizer(config, core.parameters())
    state: dict[str, Any] = {"best": -math.inf, "best_epoch": -1, "bad": 0, "history": []}
    state["best_metrics"] = {}
    start = 0
    if ckpt:
        core.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        state = dict(ckpt["state"])
        state["history"] = list(state["history"])
        start = int(ckpt["epoch"]) + 1
        if state.get("stopped"):
            start = config.epochs  # the run had already stopped early
    core.ctx.group = info.group
    model: nn.Module = core
    if info.enabled:
        model = nn.parallel.DistributedDataParallel(
            core,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        remove_dead_temporaries(out)  # a killed run's checkpoint half-published: gone
        _write_config(out, cfg_dict)

    base: dict[str, Any] = {
        "config": cfg_dict,
        "spec": spec.to_dict(),
        "normalizer": normalizer.to_state(),
        "feature_configs": feature_configs,
    }
    sampler = torch.utils.data.DistributedSampler(
        train_data, num_replicas=info.world, rank=info.rank, shuffle=True, seed=config.seed
    )
    b_local = config.batch_size // info.world
    n_windows = len(train_data)
    total_size = len(sampler) * info.world
    stopped = bool(state.get("stopped", False))
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        local = np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))
        steps = -(-len(local) // b_local)
        core.train()
        loss_sum, load_time, n_done = 0.0, 0.0, 0
        desc = f"epoch {epoch + 1}/{config.epochs}"
        with (
            progress_bar(desc, total=steps, unit="steps")
            if (info.is_main and config.progress)
            else _null_bar() as advance
        ):
            for k in range(steps):
                if config.max_steps and epoch * steps + k >= config.max_steps:
                    break
                tl = time.perf_counter()
                idx = local[k * b_local : (k + 1) * b_local]
                j = np.arange(len(idx))
                pad = (k * b_local + j) * info.world + info.rank >= n_windows
                batch = train_data.batch(idx)
                if pad.any():
                    p = torch.from_numpy(pad)
                    batch["frame_mask"][p] = 0.0
                    batch["y_mask"][p] = 0.0
                batch = {key: v.to(device, non_blocking=True) for key, v in batch.items()}
                load_time += time.perf_counter() - tl
                core.ctx.seed = step_seed(config.seed, epoch, k)
                core.ctx.rows = torch.from_numpy(j * info.world + info.rank)
                core.ctx.global_batch = min(config.batch_size, total_size - k * config.batch_size)
                pred = model(batch)
                loss = _compute_loss(pred, batch, config.loss, info.group)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach())
                n_done = k + 1
                advance()
        core.ctx.seed, core.ctx.rows = None, None
        metrics = None
        if info.is_main:
            metrics, _ = _validate(core, val_data, config, device)
        mv = metrics or {}
        vals = broadcast_floats(
            [mv.get("ccc_valence", math.nan), mv.get("ccc_arousal", math.nan)], info, device
        )
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,  # counted from 1, as on the console
            "train_loss": loss_sum / max(n_done, 1),
            "val_ccc_valence": vals[0],
            "val_ccc_arousal": vals[1],
            "val_ccc_mean": (vals[0] + vals[1]) / 2,
            "epoch_seconds": seconds,
            "load_share": load_time / max(seconds, 1e-9),
        }
        has_val = not math.isnan(row["val_ccc_mean"])
        score = row["val_ccc_mean"] if has_val else float(epoch)
        improved = score > state["best"]
        if improved:
            state.update(best=score, best_epoch=epoch + 1, bad=0)
            state["best_metrics"] = {
                "ccc_valence": vals[0],
                "ccc_arousal": vals[1],
                "ccc_mean": row["val_ccc_mean"],
            }
        else:
            state["bad"] += 1
        state["history"].append(row)
        stopped = bool(has_val and config.patience and state["bad"] >= config.patience)
        state["stopped"] = stopped
        if info.is_main:
            log.info(
                "epoch %d/%d  loss %.4f  val CCC %.3f (valence %.3f, arousal %.3f)%s  %.1fs",
                epoch + 1, config.epochs, row["train_loss"], row["val_ccc_mean"], vals[0],
                vals[1], "  *" if improved else "", seconds,
            )  # fmt: skip
            weights = {"model_state": core.state_dict()}
            if improved:
                save_checkpoint(out / "best.pt", {**base, **weights, "epoch": epoch})
            save_checkpoint(
                last,
                {
                    **base,
                    **weights,
                    "epoch": epoch,
                    "optimizer_state": optimizer.state_dict(),
                    "state": state,
                },
            )
            _write_log(out / "log.csv", state["history"])
        if config.max_steps and (epoch + 1) * steps >= config.max_steps:
            break
        if stopped:
            if info.is_main:
                log.info("early stop: no improvement for %d epochs", config.patience)
            break

    smoothing = Smoothing()
    if info.is_main and (out / "best.pt").is_file():
        best = load_checkpoint(out / "best.pt")
        core.load_state_dict(best["model_state"])
        if val_data is not None and val_data.n_label_frames:
            preds = predict_frames(core, val_data, config.eval_batch_size, device)
            smoothing = tune_smoothing(
                preds, [v.labels for v in val_data.videos], [v.times for v in val_data.videos],
                candidates=TAU_CANDIDATES if config.tune_smoothing else (0.0,),
                lags=LAG_CANDIDATES if config.tune_lag else (0.0,),
            )  # fmt: skip
        best.pop("path", None)
        save_checkpoint(out / "best.pt", {**best, "smoothing": smoothing.to_dict()})
        result = {
            "best_epoch": state["best_epoch"],
            "best_metrics": state["best_metrics"],
            "epochs_run": len(state["history"]),
            "stopped_early": stopped,
            "smoothing": smoothing.to_dict(),
            "world_size": info.world,
        }
        atomic_write_text(out / "result.json", json.dumps(result, indent=2) + "\n")
    return RunResult(
        run_dir=out,
        best_epoch=int(state["best_epoch"]),
        best_metrics=dict(state["best_metrics"]),
        epochs_run=len(state["history"]),
        stopped_early=stopped,
        history=list(state["history"]),
        smoothing=smoothing,
    )


class _null_bar:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc) -> None:
        return None


def _write_config(out: Path, cfg: dict[str, Any]) -> None:
    import yaml

    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
