"""``vafusion train``, ``evaluate`` and ``ablate``."""

from __future__ import annotations

from pathlib import Path

import typer

from vafusion.cli import app, not_built


@app.command(
    "train",
    epilog="Example: vafusion train --data affwild2/ --features store/ --out runs/gru",
)
def train_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", help="Run folder."),
) -> None:
    """Train a valence-arousal model on extracted features."""
    not_built("train")


@app.command(
    "evaluate",
    epilog="Example: vafusion evaluate runs/gru --data affwild2/ --features store/ --out eval/",
)
def evaluate_cmd(
    run: Path = typer.Argument(..., help="Run folder or checkpoint."),
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
) -> None:
    """Evaluate a trained model with CCC."""
    not_built("evaluate")


@app.command(
    "ablate",
    epilog="Example: vafusion ablate --data affwild2/ --features store/ --out table1/",
)
def ablate_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset root."),
    features: Path = typer.Option(..., "--features", help="Feature store."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
) -> None:
    """Train and evaluate audio-only, video-only and fusion models (the paper's Table I)."""
    not_built("ablate")
