"""``vafusion extract``, ``export``, ``store info`` and ``datasets check``.

Thin wrappers over :func:`vafusion.extraction.extract`, :func:`vafusion.store.export_video`,
:meth:`vafusion.store.FeatureStore.info` and :func:`vafusion.datasets.reconcile`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from vafusion.cli import alias, app, examples

store_app = typer.Typer(help="Inspect a feature store.", no_args_is_help=True)
datasets_app = typer.Typer(help="Check dataset layouts and annotations.", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.add_typer(datasets_app, name="datasets")


def _print_table(title: str, header: list[str], rows: list[list]) -> None:
    """A rich table on a terminal, tab-free aligned plain text otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for h in header:
            table.add_column(h)
        for r in rows:
            table.add_row(*[("" if c is None else str(c)) for c in r])
        Console().print(table)
        return
    cells = [header] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(title)
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@app.command(
    "extract",
    epilog=examples(
        "vafusion extract videos/ --out features/ --features audio",
        "vafusion extract videos/ --out features/ --features audio,facepose --jobs 4",
        "vafusion extract videos/ --out /shared/features --scheduler tcp://head:8786",
        "vafusion extract videos/ --out features/ --features expression "
        "--backbone onnx:/models/emonet.onnx --backbone-option input_size=256",
    ),
)
def extract_cmd(
    inputs: list[Path] = typer.Argument(
        ..., help="Video files or folders (recursive).", readable=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Feature store folder."),
    features: str = typer.Option(
        "audio",
        "--features",
        help="Comma-separated feature sets (audio, egemaps, facepose, expression, blendshapes).",
    ),
    jobs: int = typer.Option(
        None,
        "--jobs",
        "-j",
        help="Worker processes (>1: a local Dask cluster; one video with faces: its time chunks).",
    ),
    workers: int = typer.Option(None, "--workers", "-w", hidden=True),  # old name of --jobs
    scheduler: str = typer.Option(
        None, "--scheduler", help="Existing Dask scheduler address, e.g. tcp://host:8786."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Re-extract complete entries."),
    backbone: str = typer.Option(
        "minixception",
        "--backbone",
        help="Expression backbone: minixception, onnx:/path/model.onnx or "
        "torchscript:/path/model.pt.",
    ),
    backbone_option: list[str] = typer.Option(
        None,
        "--backbone-option",
        help="key=value input option of the backbone (repeatable), e.g. input_size=224.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Extract per-frame features of videos into a feature store (resumable).

    Exit code 1 if any video failed (failures are listed and recorded in the store).
    """
    from vafusion.extraction import extract

    configs = None
    if backbone != "minixception" or backbone_option:
        from vafusion.expression.extractor import ExpressionConfig

        configs = {
            "expression": ExpressionConfig(
                backbone=backbone, backbone_options=tuple(backbone_option or ())
            )
        }
    report = extract(
        inputs,
        out,
        features=features,
        workers=alias(jobs, workers, "--jobs", "--workers") or 1,
        scheduler=scheduler,
        overwrite=overwrite,
        configs=configs,
    )
    print(json.dumps(report.to_dict(), indent=1) if as_json else report.summary())
    if report.exit_code:
        raise typer.Exit(code=report.exit_code)


@app.command(
    "export",
    epilog="Example: vafusion export features/ --video clip --out clip.csv --features audio",
)
def export_cmd(
    store: Path = typer.Argument(..., help="Feature store folder."),
    video: str = typer.Option(..., "--video", help="Video stem."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .csv or .parquet."),
    features: str = typer.Option(
        None, "--features", help="Comma-separated feature sets (default: all stored)."
    ),
    face: str = typer.Option(
        "main", "--face", help="Face for face features: main, left, right, all or a track id."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Export one video's features as one row per decoded frame."""
    from vafusion.store.export import export_video

    path = export_video(store, video, out, features, face=face, overwrite=force)
    print(f"wrote {path}")


@store_app.command("info", epilog="Example: vafusion store info features/ --json")
def store_info_cmd(
    store: Path = typer.Argument(..., help="Feature store folder."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Re-index the manifest from the entry folders first."
    ),
) -> None:
    """List videos, feature sets (config hash, shapes) and failures of a store."""
    from vafusion.store import FeatureStore

    fs = FeatureStore.rebuild(store) if rebuild else FeatureStore(store, create=False)
    info = fs.info()
    if as_json:
        print(json.dumps(info, indent=1))
        return
    sets = sorted(info["feature_sets"])
    print(
        f"{info['root']}: {info['n_videos']} videos, {len(info['failures'])} failures, "
        f"{len(info['damaged'])} damaged entries, "
        f"{info['bytes'] / 1e6:.1f} MB (store format v{info['store_version']})"
    )
    for name, s in sorted(info["feature_sets"].items()):
        keys = ", ".join(f"{k} ({n} videos)" for k, n in s["keys"].items())
        print(f"  {name}: D={s['dim']}, {s['rows']} rows; configs {keys}")
    rows = [
        [v["video"], v["n_frames"]]
        + [("x".join(map(str, v["sets"][s])) if s in v["sets"] else "-") for s in sets]
        for v in info["videos"]
    ]
    _print_table("videos", ["video", "frames"] + sets, rows)
    if info["failures"]:
        _print_table("failures", ["video", "error"], [[v, e] for v, e in info["failures"].items()])
    if info["damaged"]:
        _print_table(
            "damaged entries (re-extracted by 'vafusion extract')",
            ["entry", "problem"],
            [[k, e] for k, e in info["damaged"].items()],
        )


@datasets_app.command(
    "check",
    epilog="Example: vafusion datasets check affwild2/ --store features/ --tolerance 5",
)
def datasets_check_cmd(
    root: Path = typer.Argument(..., help="Dataset root (or the generic layout's CSV)."),
    layout: str = typer.Option("auto", "--layout", help="auto, affwild2, afew-va or csv."),
    store: Path = typer.Option(
        None, "--store", help="Feature store with recorded frame counts (avoids decoding)."
    ),
    probe: bool = typer.Option(
        True, "--probe/--no-probe", help="Decode videos the store does not know."
    ),
    split: str = typer.Option(
        None, "--split", help="Only this split: train, validation (or val), test."
    ),
    tolerance: int = typer.Option(
        None, "--tolerance", help="Largest accepted difference in frame count (default 5)."
    ),
    tolerance_frames: int = typer.Option(None, "--tolerance-frames", hidden=True),  # old name
    tolerance_fraction: float = typer.Option(
        0.01, "--tolerance-fraction", help="Accepted difference as a share of the frames."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Reconcile annotation rows with decoded frames per video.

    Exit code 1 if any video is refused (beyond tolerance) or unreadable, or an annotation
    file is malformed (each listed as ``invalid``; the others are still checked).
    """
    from vafusion.data.sources import canonical_split
    from vafusion.datasets import Tolerance, load_dataset, reconcile
    from vafusion.datasets.reconcile import Reconciliation
    from vafusion.store import FeatureStore

    tolerance = alias(tolerance, tolerance_frames, "--tolerance", "--tolerance-frames")
    tolerance = 5 if tolerance is None else tolerance
    split = canonical_split(split) if split else None
    ds = load_dataset(root, layout, strict=False)
    fs = FeatureStore(store, create=False) if store else None
    rows = reconcile(ds, fs, Tolerance(tolerance, tolerance_fraction), probe=probe, split=split)
    # malformed annotation files: one row each, the rest of the dataset is still checked
    for path, problem in sorted(ds.invalid.items()):
        name = Path(path).stem
        rows.append(Reconciliation(name, name, "", 0, None, None, "invalid", f"{path}: {problem}"))
    if as_json:
        print(
            json.dumps(
                {"layout": ds.layout, "splits": ds.splits(), "rows": [r.to_dict() for r in rows]},
                indent=1,
            )
        )
    else:
        print(
            f"{ds.root}: layout {ds.layout}, "
            + ", ".join(f"{k} {v}" for k, v in ds.splits().items())
        )
        _print_table(
            "frame reconciliation",
            ["name", "video", "split", "labels", "frames", "diff", "status", "note"],
            [
                [r.name, r.video, r.split, r.n_labels, r.n_frames, r.diff, r.status, r.message]
                for r in rows
            ],
        )
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        print("summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for r in rows:
        if r.status == "invalid":
            print(f"error: {r.message}", file=sys.stderr)
    if any(r.status in ("refused", "unreadable", "invalid") for r in rows):
        raise typer.Exit(code=1)
