"""``vafusion predict`` and ``vafusion demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from vafusion.cli import app, not_built


@app.command(
    "predict",
    epilog="Example: vafusion predict meeting.mp4 --out results/",
)
def predict_cmd(
    videos: list[Path] = typer.Argument(None, help="Video files."),
    out: Path = typer.Option(Path("vafusion-out"), "--out", "-o", help="Output folder."),
) -> None:
    """Predict per-frame valence and arousal for videos."""
    not_built("predict")


@app.command("demo", epilog="Example: vafusion demo --out vafusion-demo")
def demo_cmd(
    out: Path = typer.Option(Path("vafusion-demo"), "--out", "-o", help="Output folder."),
) -> None:
    """Run vafusion on the bundled sample clip and write the results to a folder."""
    from vafusion.demo import run_demo

    result = run_demo(out)
    print(f"demo written to {result}")
