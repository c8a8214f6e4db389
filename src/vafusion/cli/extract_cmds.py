"""``vafusion extract`` and ``vafusion export`` (feature extraction and the store)."""

from __future__ import annotations

from pathlib import Path

import typer

from vafusion.cli import app, not_built


@app.command(
    "extract",
    epilog="Example: vafusion extract videos/ --out features/ --features audio",
)
def extract_cmd(
    inputs: list[Path] = typer.Argument(..., help="Video files or folders."),
    out: Path = typer.Option(..., "--out", "-o", help="Feature store folder."),
    features: str = typer.Option("audio", "--features", help="Comma-separated feature sets."),
) -> None:
    """Extract per-frame features of videos into a feature store."""
    not_built("extract")


@app.command(
    "export",
    epilog="Example: vafusion export features/ --video clip --out clip.csv",
)
def export_cmd(
    store: Path = typer.Argument(..., help="Feature store folder."),
    video: str = typer.Option(..., "--video", help="Video stem."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .csv or .parquet."),
) -> None:
    """Export one video's features as one row per frame."""
    not_built("export")
