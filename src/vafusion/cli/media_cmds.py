"""``vafusion probe``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vafusion.cli import app


@app.command(
    "probe",
    epilog="Example: vafusion probe interview.mp4 --json",
)
def probe_cmd(
    file: Path = typer.Argument(..., help="Video file to inspect.", readable=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show a video's frame count (frames that really decode), rate, size and audio."""
    from vafusion.io.media import probe
    from vafusion.isolation import IsolatedWorker

    with IsolatedWorker() as worker:  # a native crash in the decoder: one error line
        info = worker.call(probe, file, label=str(file))
    if as_json:
        print(json.dumps(info.to_dict()))
        return
    for key, value in info.to_dict().items():
        print(f"{key:>20}: {value}")
