"""``vafusion train``, ``evaluate`` and ``ablate``: thin layers over :mod:`vafusion.train`."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import typer

from vafusion.cli import app


def _memory(flag: bool | None) -> str | None:
    """``--data-in-memory`` -> "ram", ``--data-mmap`` -> "mmap", neither -> None (auto)."""
    return None if flag is None else ("ram" if flag else "mmap")


_MEMORY_HELP = (
    "Pack the features in RAM (fastest; frames x dims x 4 B) or read each batch from the "
    "store's memory maps (memory independent of the dataset size). Default: RAM when it fits "
    "in half the available memory."
)


def _config(config: Path | None, recipe: str = "paper", data: dict | None = None, **overrides):
    """Base config (``--config`` YAML, else the recipe) with CLI overrides (None = keep)."""
    from vafusion.errors import ConfigError
    from vafusion.train.config import load_train_config, with_overrides
    from vafusion.train.recipes import recipe_config

    if config and recipe != "paper":
        raise ConfigError("give either --config or --recipe, not both")
    base = load_train_config(config) if config else recipe_config(recipe)
    cfg = with_overrides(base, **overrides)
    data = {k: v for k, v in (data or {}).items() if v is not None}
    return replace(cfg, data=replace(cfg.data, **data)) if data else cfg


@app.command(
    "train",
    epilog=(
        "Example: vafusion train --data affwild2/ --features store/ --out runs/gru "
        "--model fusion-gru --epochs 30. Multi-process: torchrun --nproc-per-node 2 -m "
        "vafusion train ... (same result as one process; --batch-size is the global batch)."
    ),
)
def train_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset root (Aff-Wild2 layout...)."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="fusion-gru (default), fusion-bilstm, audio, expression, blendshapes, "
        "facepose or a '+'-joined set such as audio+blendshapes+facepose.",
    ),  # fmt: skip
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs (default 50)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Global batch (windows)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default 0)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default 1e-4)."),
    loss: str | None = typer.Option(None, "--loss", help="mse (default), ccc or mse+ccc."),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience."),
    config: Path | None = typer.Option(None, "--config", help="YAML TrainConfig."),
    resume: bool = typer.Option(False, "--resume", help="Continue from RUN/last.pt."),
    device: str | None = typer.Option(None, "--device", help="cpu (default) or cuda."),
    in_memory: bool | None = typer.Option(None, "--data-in-memory/--data-mmap", help=_MEMORY_HELP),
    dev_fraction: float | None = typer.Option(
        None,
        "--dev-fraction",
        help="Hold out this share of the training videos (by video) for early stopping and "
        "tuning; the validation split is then evaluated once at the end (paper 0, improved "
        "0.15).",
    ),
    recipe: str = typer.Option(
        "paper",
        "--recipe",
        help="paper (the seed paper's settings) or improved (CCC loss, fusion-tcn over "
        "128-frame windows, per-video normalisation, dev split, lag shift and smoothing "
        "tuned on it); the options below switch single parts.",
    ),
    window: int | None = typer.Option(None, "--window", help="Window length in frames."),
    stride: int | None = typer.Option(None, "--stride", help="Window stride in frames."),
    per_video_norm: bool | None = typer.Option(
        None, "--per-video-norm/--no-per-video-norm", help="Standardise features per video."
    ),
    tune_smoothing: bool | None = typer.Option(
        None,
        "--tune-smoothing/--no-tune-smoothing",
        help="Choose the output smoothing on the dev split (evaluate and predict apply it).",
    ),
    tune_lag: bool | None = typer.Option(
        None, "--tune-lag/--no-tune-lag", help="Choose an annotation-lag shift (0-2 s) too."
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Stop after this many steps in total (smoke runs)."
    ),
) -> None:
    """Train a valence-arousal model on extracted features."""
    from vafusion.train import train

    cfg = _config(
        config, recipe, model=model, epochs=epochs, batch_size=batch_size, seed=seed, lr=lr,
        loss=loss, patience=patience, device=device, data_memory=_memory(in_memory),
        tune_smoothing=tune_smoothing, tune_lag=tune_lag, max_steps=max_steps,
        data={"dev_fraction": dev_fraction, "window": window, "stride": stride,
              "per_video_norm": per_video_norm},
    )  # fmt: skip
    result = train(cfg, data, features, out, resume=resume)
    if os.environ.get("RANK", "0") != "0":  # torchrun: only rank 0 reports
        return
    m = result.best_metrics
    split = "development" if cfg.data.dev_fraction else "validation"
    if m and m.get("ccc_mean") == m.get("ccc_mean"):
        typer.echo(
            f"best epoch {result.best_epoch}: {split} CCC {m['ccc_mean']:.4f} "
            f"(valence {m['ccc_valence']:.4f}, arousal {m['ccc_arousal']:.4f}) -> {out}"
        )
    else:
        typer.echo(f"trained {result.epochs_run} epochs -> {out}")
    if result.validation:
        raw, sm = (result.validation[k]["ccc_mean"] for k in ("raw", "smoothed"))
        raw, sm = (math.nan if x is None else x for x in (raw, sm))
        typer.echo(
            f"validation CCC {raw:.4f} raw, {sm:.4f} smoothed "
            f"({result.validation['n_videos']} videos, untouched during training)"
        )


@app.command(
    "evaluate",
    epilog="Example: vafusion evaluate runs/gru --data affwild2/ --features store/ "
    "--split validation --out eval/",
)
def evaluate_cmd(
    run: Path = typer.Argument(..., help="Run folder (best.pt) or checkpoint file."),
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    split: str = typer.Option(
        "validation", "--split", help="validation (or val), train or test; files say 'val'."
    ),
    smooth: bool = typer.Option(
        True,
        "--smooth/--no-smooth",
        help="Apply the output smoothing the checkpoint carries (default) or show raw outputs.",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    in_memory: bool | None = typer.Option(None, "--data-in-memory/--data-mmap", help=_MEMORY_HELP),
    fmt: str = typer.Option(
        "csv",
        "--format",
        "-f",
        help="csv (predictions/<name>.csv) or abaw (also abaw/<name>.txt: the challenge's "
        "submission files, one per annotated subject, _left/_right kept).",
    ),
) -> None:
    """Evaluate a trained model with CCC; write per-frame predictions and metrics.json."""
    from vafusion.train import evaluate

    m = evaluate(
        run, data, features, split, out, smooth=smooth, device=device,
        data_memory=_memory(in_memory), fmt=fmt,
    )  # fmt: skip
    if m["ccc_mean"] is None:
        typer.echo(f"{m['n_videos']} videos predicted (no labels) -> {out}")
    else:
        typer.echo(
            f"CCC valence {m['ccc_valence']:.4f}  arousal {m['ccc_arousal']:.4f}  "
            f"mean {m['ccc_mean']:.4f}  ({m['n_frames']} frames) -> {out / 'metrics.json'}"
        )


@app.command(
    "ablate",
    epilog="Example: vafusion ablate --data affwild2/ --features store/ --out table1/ --epochs 30",
)
def ablate_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    models: str | None = typer.Option(
        None,
        "--models",
        help="Comma-separated models (default audio,expression,facepose,fusion-gru); "
        "others such as blendshapes,audio+blendshapes+facepose add rows.",
    ),  # fmt: skip
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs per model."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Global batch."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default 1e-4)."),
    loss: str | None = typer.Option(None, "--loss", help="mse (default), ccc or mse+ccc."),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience."),
    config: Path | None = typer.Option(None, "--config", help="YAML TrainConfig."),
    resume: bool = typer.Option(False, "--resume", help="Resume each model's run."),
    device: str | None = typer.Option(None, "--device", help="cpu (default) or cuda."),
    in_memory: bool | None = typer.Option(None, "--data-in-memory/--data-mmap", help=_MEMORY_HELP),
) -> None:
    """Train and evaluate audio-only, video-only and fusion models (the paper's Table I)."""
    from vafusion.train import ablate

    cfg = _config(
        config, epochs=epochs, batch_size=batch_size, seed=seed, lr=lr, loss=loss,
        patience=patience, device=device, data_memory=_memory(in_memory),
    )  # fmt: skip
    chosen = tuple(m.strip() for m in models.split(",")) if models else None
    ablate(cfg, data, features, out, models=chosen, resume=resume)
    typer.echo((out / "table1.md").read_text())
