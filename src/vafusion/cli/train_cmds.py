"""``vafusion train``, ``evaluate`` and ``ablate``: thin layers over :mod:`vafusion.train`."""

from __future__ import annotations

import os
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


def _config(config: Path | None, **overrides):
    from vafusion.train.config import TrainConfig, load_train_config, with_overrides

    base = load_train_config(config) if config else TrainConfig()
    return with_overrides(base, **overrides)


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
    out: Path = typer.Option(..., "--out", help="Run folder."),
    model: str | None = typer.Option(
        None,
        "--model",
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
) -> None:
    """Train a valence-arousal model on extracted features."""
    from vafusion.train import train

    cfg = _config(
        config, model=model, epochs=epochs, batch_size=batch_size, seed=seed, lr=lr,
        loss=loss, patience=patience, device=device, data_memory=_memory(in_memory),
    )  # fmt: skip
    result = train(cfg, data, features, out, resume=resume)
    if os.environ.get("RANK", "0") != "0":  # torchrun: only rank 0 reports
        return
    m = result.best_metrics
    if m and m.get("ccc_mean") == m.get("ccc_mean"):
        typer.echo(
            f"best epoch {result.best_epoch + 1}: validation CCC {m['ccc_mean']:.4f} "
            f"(valence {m['ccc_valence']:.4f}, arousal {m['ccc_arousal']:.4f}) -> {out}"
        )
    else:
        typer.echo(f"trained {result.epochs_run} epochs -> {out}")


@app.command(
    "evaluate",
    epilog="Example: vafusion evaluate runs/gru --data affwild2/ --features store/ "
    "--split validation --out eval/",
)
def evaluate_cmd(
    run: Path = typer.Argument(..., help="Run folder (best.pt) or checkpoint file."),
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    split: str = typer.Option("validation", "--split", help="validation, train or test."),
    smooth: bool = typer.Option(
        True,
        "--smooth/--no-smooth",
        help="Apply the output smoothing the checkpoint carries (default) or show raw outputs.",
    ),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    in_memory: bool | None = typer.Option(None, "--data-in-memory/--data-mmap", help=_MEMORY_HELP),
) -> None:
    """Evaluate a trained model with CCC; write per-frame predictions and metrics.json."""
    from vafusion.train import evaluate

    m = evaluate(
        run, data, features, split, out, smooth=smooth, device=device,
        data_memory=_memory(in_memory),
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
    out: Path = typer.Option(..., "--out", help="Output folder."),
    models: str | None = typer.Option(
        None,
        "--models",
        help="Comma-separated models (default audio,expression,facepose,fusion-gru); "
        "others such as blendshapes,audio+blendshapes+facepose add rows.",
    ),  # fmt: skip
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs per model."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Global batch."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    config: Path | None = typer.Option(None, "--config", help="YAML TrainConfig."),
    resume: bool = typer.Option(False, "--resume", help="Resume each model's run."),
) -> None:
    """Train and evaluate audio-only, video-only and fusion models (the paper's Table I)."""
    from vafusion.train import ablate

    cfg = _config(config, epochs=epochs, batch_size=batch_size, seed=seed)
    chosen = tuple(m.strip() for m in models.split(",")) if models else None
    ablate(cfg, data, features, out, models=chosen, resume=resume)
    typer.echo((out / "table1.md").read_text())
