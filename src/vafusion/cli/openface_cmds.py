"""``vafusion import-openface``: OpenFace 2.x CSVs into a feature store as ``facepose``."""

from __future__ import annotations

from pathlib import Path

import typer

from vafusion.cli import app


@app.command(
    "import-openface",
    epilog=(
        "Example: vafusion import-openface processed/clip.csv --video clip.mp4 --out features/"
    ),
)
def import_openface_cmd(
    csv: list[Path] = typer.Argument(..., help="OpenFace FeatureExtraction CSV(s) of one video."),
    video: Path = typer.Option(..., "--video", help="The video the CSVs were made from."),
    out: Path = typer.Option(..., "--out", "-o", help="Feature store folder."),
    tolerance: int = typer.Option(
        5,
        "--tolerance",
        help="Largest accepted difference in frame count (CSV vs video, default 5).",
    ),
) -> None:
    """Store OpenFace output as the FacePose branch, aligned to the video's frames."""
    from vafusion.expression.openface import import_openface
    from vafusion.io.media import scan
    from vafusion.store import FeatureStore

    info, timestamps = scan(video)  # one decode: frame count and times
    table = import_openface(csv, info.n_frames, tolerance=tolerance, timestamps=timestamps)
    table.meta["video"] = str(video)
    store = FeatureStore(out)
    store.put(
        video.stem,
        table,
        extractor_hash=table.meta["config_hash"],
        video_info=info.to_dict(),
        config={"source": "openface", "csv": [str(p) for p in csv], "tolerance": tolerance},
    )
    faces = sorted({t["face_id"] for t in table.meta["tracks"]})
    mism = ", ".join(f"{Path(p).name}: {d:+d}" for p, d in table.meta["frame_mismatch"].items())
    print(
        f"{video.stem}: facepose from OpenFace ({table.meta['openface_layout']} layout), "
        f"{table.meta['n_frames']} frames, {table.dim} columns, faces {faces or 'none'}, "
        f"{table.meta['n_failed_rows']} failed rows; frame count difference {mism}"
    )
