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

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vafusion.data.sequences import FeatureSpec, VideoData
from vafusion.errors import ConfigError, ModelError
from vafusion.log import get_logger
from vafusion.models.registry import model_modalities
from vafusion.smoothing import Smoothing
from vafusion.train import steps
from vafusion.train.config import TrainConfig
from vafusion.train.distributed import DistInfo, init_distributed, shutdown

log = get_logger("train")

#: Columns of ``log.csv``.
LOG_FIELDS = steps.LOG_FIELDS
#: Dropout seed of one step (kept here: part of the reproducibility contract above).
step_seed = steps.step_seed


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
    """The run, step by step (:mod:`vafusion.train.steps`)."""
    run = steps.prepare(config, info, out, resume, feature_configs)
    normalizer = steps.build_windows(run, train_videos, val_videos, spec)
    steps.build_model(run, spec)
    steps.start_outputs(run, spec, normalizer, feature_configs)
    sampler = torch.utils.data.DistributedSampler(
        run.train_data, num_replicas=info.world, rank=info.rank, shuffle=True, seed=config.seed
    )
    per_epoch = steps.steps_per_epoch(run)
    for epoch in range(run.start, config.epochs):
        t0 = time.perf_counter()
        loss, _, load_time = steps.train_epoch(run, sampler, epoch)
        vals = steps.validate_epoch(run)
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,  # counted from 1, as on the console
            "train_loss": loss,
            "val_ccc_valence": vals[0],
            "val_ccc_arousal": vals[1],
            "val_ccc_mean": (vals[0] + vals[1]) / 2,
            "epoch_seconds": seconds,
            "load_share": load_time / max(seconds, 1e-9),
        }
        improved = steps.record_epoch(run, epoch, row)
        steps.save_epoch(run, epoch, improved)
        if config.max_steps and (epoch + 1) * per_epoch >= config.max_steps:
            break
        if run.state["stopped"]:
            if info.is_main:
                log.info("early stop: no improvement for %d epochs", config.patience)
            break
    smoothing = steps.finish(run)
    state = run.state
    return RunResult(
        run_dir=out,
        best_epoch=int(state["best_epoch"]),
        best_metrics=dict(state["best_metrics"]),
        epochs_run=len(state["history"]),
        stopped_early=bool(state.get("stopped", False)),
        history=list(state["history"]),
        smoothing=smoothing,
    )
