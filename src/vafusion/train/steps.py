"""The named steps of one training run (:func:`vafusion.train.loop.fit` calls them in order).

``prepare`` (threads, device, resume point) -> ``build_windows`` (normaliser, windows) ->
``build_model`` (model, optimiser, early-stopping state; DDP wrapper) -> per epoch
``train_epoch`` -> ``validate_epoch`` -> ``record_epoch`` -> ``save_epoch`` -> at the end
``finish`` (output post-processing tuned on the early-stopping split, ``result.json``).
The reproducibility and DDP contracts are stated in :mod:`vafusion.train.loop`.
"""

from __future__ import annotations

import csv
import io
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
from vafusion.data.memory_budget import choose_in_memory, feature_bytes
from vafusion.data.normalize import Normalizer
from vafusion.data.sequences import (
    FeatureSpec,
    VideoData,
    WindowData,
    fit_normalizer,
)
from vafusion.errors import ConfigError, ModelError
from vafusion.fileio import atomic_write_text, json_text, remove_dead_temporaries
from vafusion.log import get_logger, progress_bar
from vafusion.models.registry import build_model as build_network
from vafusion.smoothing import LAG_CANDIDATES, TAU_CANDIDATES, Smoothing, tune_smoothing
from vafusion.train.checkpoint import load_checkpoint, save_checkpoint
from vafusion.train.config import TrainConfig, resume_compatible
from vafusion.train.distributed import DistInfo, broadcast_floats
from vafusion.train.losses import compute_loss
from vafusion.train.metrics import ccc_va
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
class Run:
    """Everything one training run holds between its steps.

    Attributes
    ----------
    config : TrainConfig
    info : DistInfo
        Process rank / world (single process: world 1).
    device : torch.device
    out : Path
        Run folder.
    ckpt : dict or None
        ``last.pt`` being resumed from.
    core : nn.Module
        The model; ``model`` is the same or its DDP wrapper.
    optimizer : torch.optim.Optimizer
    train_data, val_data : WindowData
        Training windows; early-stopping windows (None without such videos).
    state : dict
        Early-stopping state saved in ``last.pt``: ``best``, ``best_epoch``, ``bad``,
        ``best_metrics``, ``history``, ``stopped``.
    base : dict
        Checkpoint content shared by ``best.pt`` and ``last.pt`` (config, spec, normaliser,
        feature provenance).
    start : int
        First epoch to run (0-based).
    """

    config: TrainConfig
    info: DistInfo
    device: torch.device
    out: Path
    ckpt: dict[str, Any] | None = None
    core: nn.Module | None = None
    model: nn.Module | None = None
    optimizer: torch.optim.Optimizer | None = None
    train_data: WindowData | None = None
    val_data: WindowData | None = None
    state: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    start: int = 0


def step_seed(seed: int, epoch: int, step: int) -> int:
    """Seed of the dropout generator of one step (same on every process)."""
    return (seed * 1_000_003 + epoch * 65_537 + step * 7 + 12_345) % (2**63 - 1)


def _make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":  # Keras' RMSprop defaults (rho 0.9, epsilon 1e-7)
        return torch.optim.RMSprop(params, lr=config.lr, alpha=0.9, eps=1e-7)
    return torch.optim.Adam(params, lr=config.lr)


def _device(config: TrainConfig, info: DistInfo) -> torch.device:
    if config.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda requested but CUDA is not available")
        return torch.device(f"cuda:{info.local_rank}" if info.enabled else config.device)
    return torch.device("cpu")


def prepare(
    config: TrainConfig, info: DistInfo, out: Path, resume: bool, feature_configs: dict
) -> Run:
    """Check the world size, set threads and device, find and check the resume point."""
    if config.batch_size % info.world:
        raise ConfigError(
            f"batch_size {config.batch_size} must be divisible by the {info.world} processes "
            "(it is the global batch)"
        )
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    elif info.enabled:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(info.local_world, 1)))
    run = Run(config, info, _device(config, info), out)
    last = out / "last.pt"
    if resume and last.is_file():
        run.ckpt = load_checkpoint(last)
        diff = resume_compatible(run.ckpt["config"], config)
        saved_fc = run.ckpt.get("feature_configs") or {}
        if saved_fc and feature_configs and saved_fc != feature_configs:
            diff.append("feature_configs (the store's extractor configs)")
        if diff:
            raise ConfigError(f"cannot resume {last}: config differs in {', '.join(diff)}")
    elif resume and info.is_main:
        log.info("no %s to resume from; starting a new run", last)
    return run


def build_windows(
    run: Run, train_videos: list[VideoData], val_videos: list[VideoData], spec: FeatureSpec
) -> Normalizer:
    """Fit (or restore) the normaliser and cut the videos into windows (RAM or memmaps)."""
    ckpt, dc = run.ckpt, run.config.data
    normalizer = (
        Normalizer.from_state(ckpt["normalizer"])
        if ckpt
        else fit_normalizer(train_videos, spec.modalities)
    )
    n_bytes = feature_bytes([*train_videos, *val_videos], spec, dc.window, dc.stride)
    in_memory = choose_in_memory(run.config.data_memory, n_bytes)
    if run.info.is_main:
        log.info(
            "training windows %s (%.2f GB of features)",
            "packed in RAM" if in_memory else "read per batch from memory maps", n_bytes / 1e9,
        )  # fmt: skip
    kw = {"in_memory": in_memory, "per_video": dc.per_video_norm}
    run.train_data = WindowData(train_videos, spec, normalizer, dc.window, dc.stride, **kw)
    if val_videos:
        run.val_data = WindowData(val_videos, spec, normalizer, dc.window, dc.stride, **kw)
    return normalizer


def build_model(run: Run, spec: FeatureSpec) -> None:
    """Seeded model and optimiser (restored when resuming), early-stopping state, DDP."""
    config, ckpt, info = run.config, run.ckpt, run.info
    torch.manual_seed(config.seed)
    run.core = build_network(config.model, spec).to(run.device)
    run.optimizer = _make_optimizer(config, run.core.parameters())
    run.state = {"best": -math.inf, "best_epoch": -1, "bad": 0, "history": []}
    run.state["best_metrics"] = {}
    if ckpt:
        run.core.load_state_dict(ckpt["model_state"])
        run.optimizer.load_state_dict(ckpt["optimizer_state"])
        run.state = dict(ckpt["state"])
        run.state["history"] = list(run.state["history"])
        run.start = int(ckpt["epoch"]) + 1
        if run.state.get("stopped"):
            run.start = config.epochs  # the run had already stopped early
    run.core.ctx.group = info.group
    run.model = run.core
    if info.enabled:
        run.model = nn.parallel.DistributedDataParallel(
            run.core,
            device_ids=[run.device.index] if run.device.type == "cuda" else None,
            broadcast_buffers=False,
        )


def start_outputs(run: Run, spec: FeatureSpec, normalizer: Normalizer, provenance: dict) -> None:
    """Create the run folder and ``config.yaml``; set the shared checkpoint content."""
    cfg = config_to_dict(run.config)
    if run.info.is_main:
        import yaml

        run.out.mkdir(parents=True, exist_ok=True)
        remove_dead_temporaries(run.out)  # a killed run's checkpoint half-published: gone
        atomic_write_text(run.out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    run.base = {
        "config": cfg,
        "spec": spec.to_dict(),
        "normalizer": normalizer.to_state(),
        "feature_configs": provenance,
    }


def steps_per_epoch(run: Run) -> int:
    """Optimizer steps of one epoch on this process (same on every process)."""
    n_local = -(-len(run.train_data) // run.info.world)
    return -(-n_local // (run.config.batch_size // run.info.world))


def train_epoch(run: Run, sampler, epoch: int) -> tuple[float, int, float]:
    """One epoch of optimizer steps (stopping at ``max_steps``).

    Returns
    -------
    mean_loss : float
    steps_done : int
    load_seconds : float
        Time spent gathering batches.
    """
    config, info, core, data = run.config, run.info, run.core, run.train_data
    sampler.set_epoch(epoch)
    local = np.fromiter(iter(sampler), dtype=np.int64, count=len(sampler))
    b_local = config.batch_size // info.world
    steps = -(-len(local) // b_local)
    n_windows, total_size = len(data), len(sampler) * info.world
    core.train()
    loss_sum, load_time, n_done = 0.0, 0.0, 0
    show = info.is_main and config.progress
    desc = f"epoch {epoch + 1}/{config.epochs}"
    with progress_bar(desc, total=steps, unit="steps") if show else _null_bar() as advance:
        for k in range(steps):
            if config.max_steps and epoch * steps + k >= config.max_steps:
                break
            tl = time.perf_counter()
            idx = local[k * b_local : (k + 1) * b_local]
            j = np.arange(len(idx))
            pad = (k * b_local + j) * info.world + info.rank >= n_windows
            batch = data.batch(idx)
            if pad.any():
                p = torch.from_numpy(pad)
                batch["frame_mask"][p] = 0.0
                batch["y_mask"][p] = 0.0
            batch = {key: v.to(run.device, non_blocking=True) for key, v in batch.items()}
            load_time += time.perf_counter() - tl
            core.ctx.seed = step_seed(config.seed, epoch, k)
            core.ctx.rows = torch.from_numpy(j * info.world + info.rank)
            core.ctx.global_batch = min(config.batch_size, total_size - k * config.batch_size)
            loss = compute_loss(run.model(batch), batch, config.loss, info.group)
            check_finite_loss(loss, epoch, k, config)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.optimizer.step()
            loss_sum += float(loss.detach())
            n_done = k + 1
            advance()
    core.ctx.seed, core.ctx.rows = None, None
    check_finite_weights(core, epoch, config)
    return loss_sum / max(n_done, 1), n_done, load_time


def check_finite_loss(loss: torch.Tensor, epoch: int, step: int, config: TrainConfig) -> None:
    """Stop with a clear error when the (global, all-reduced) loss is NaN or infinite."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise ModelError(
            f"training diverged: the loss became {value} at epoch {epoch + 1}, step "
            f"{step + 1} (learning rate {config.lr:g} too high, or non-finite features?); "
            "stopped (checkpoints already written are from before it)"
        )


def check_finite_weights(core: nn.Module, epoch: int, config: TrainConfig) -> None:
    """Stop before saving weights that became NaN or infinite in the epoch's last step."""
    if not all(bool(torch.isfinite(p).all()) for p in core.parameters()):
        raise ModelError(
            f"training diverged: the weights became non-finite in epoch {epoch + 1} (learning "
            f"rate {config.lr:g} too high?); stopped (checkpoints already written are from "
            "before it)"
        )


def validate_epoch(run: Run) -> list[float]:
    """``[ccc_valence, ccc_arousal]`` on the early-stopping windows (rank 0 computes, every
    process receives; NaN without labelled windows)."""
    metrics = None
    data = run.val_data
    if run.info.is_main and data is not None and data.n_label_frames:
        preds = predict_frames(run.core, data, run.config.eval_batch_size, run.device)
        labels = [v.labels for v in data.videos]
        metrics = ccc_va(np.concatenate(preds), np.concatenate(labels))
    mv = metrics or {}
    return broadcast_floats(
        [mv.get("ccc_valence", math.nan), mv.get("ccc_arousal", math.nan)], run.info, run.device
    )


def record_epoch(run: Run, epoch: int, row: dict[str, Any]) -> bool:
    """Append the epoch's row to the history and update early stopping.

    Returns
    -------
    bool
        Whether this epoch is the best so far (its weights go to ``best.pt``).
    """
    state, config = run.state, run.config
    has_val = not math.isnan(row["val_ccc_mean"])
    score = row["val_ccc_mean"] if has_val else float(epoch)
    improved = score > state["best"]
    if improved:
        state.update(best=score, best_epoch=epoch + 1, bad=0)
        state["best_metrics"] = {
            "ccc_valence": row["val_ccc_valence"],
            "ccc_arousal": row["val_ccc_arousal"],
            "ccc_mean": row["val_ccc_mean"],
        }
    else:
        state["bad"] += 1
    state["history"].append(row)
    state["stopped"] = bool(has_val and config.patience and state["bad"] >= config.patience)
    return improved


def save_epoch(run: Run, epoch: int, improved: bool) -> None:
    """Rank 0: log line, ``best.pt`` (if improved), ``last.pt``, ``log.csv``."""
    if not run.info.is_main:
        return
    row = run.state["history"][-1]
    log.info(
        "epoch %d/%d  loss %.4f  val CCC %.3f (valence %.3f, arousal %.3f)%s  %.1fs",
        epoch + 1, run.config.epochs, row["train_loss"], row["val_ccc_mean"],
        row["val_ccc_valence"], row["val_ccc_arousal"], "  *" if improved else "",
        row["epoch_seconds"],
    )  # fmt: skip
    weights = {"model_state": run.core.state_dict()}
    if improved:
        save_checkpoint(run.out / "best.pt", {**run.base, **weights, "epoch": epoch})
    resumable = {"optimizer_state": run.optimizer.state_dict(), "state": run.state}
    save_checkpoint(run.out / "last.pt", {**run.base, **weights, "epoch": epoch, **resumable})
    _write_log(run.out / "log.csv", run.state["history"])


def finish(run: Run) -> Smoothing:
    """Rank 0: tune the output post-processing of the best model on the early-stopping
    split, store it in ``best.pt``, write ``result.json``."""
    smoothing = Smoothing()
    config, best_path = run.config, run.out / "best.pt"
    if not (run.info.is_main and best_path.is_file()):
        return smoothing
    best = load_checkpoint(best_path)
    run.core.load_state_dict(best["model_state"])
    data = run.val_data
    if data is not None and data.n_label_frames:
        preds = predict_frames(run.core, data, config.eval_batch_size, run.device)
        smoothing = tune_smoothing(
            preds, [v.labels for v in data.videos], [v.times for v in data.videos],
            candidates=TAU_CANDIDATES if config.tune_smoothing else (0.0,),
            lags=LAG_CANDIDATES if config.tune_lag else (0.0,),
        )  # fmt: skip
    best.pop("path", None)
    save_checkpoint(best_path, {**best, "smoothing": smoothing.to_dict()})
    state = run.state
    result = {
        "best_epoch": state["best_epoch"],
        "best_metrics": state["best_metrics"],
        "epochs_run": len(state["history"]),
        "stopped_early": bool(state.get("stopped", False)),
        "smoothing": smoothing.to_dict(),
        "world_size": run.info.world,
    }
    atomic_write_text(run.out / "result.json", json_text(result))
    return smoothing


def _write_log(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


class _null_bar:
    def __enter__(self):
        return lambda n=1: None

    def __exit__(self, *exc) -> None:
        return None
