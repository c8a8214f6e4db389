"""``vafusion predict`` and ``vafusion demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vafusion.cli import alias, app, examples
from vafusion.errors import ConfigError

_PREDICT_EPILOG = examples(
    "vafusion predict meeting.mp4 --out results/",
    "vafusion predict a.mp4 b.mov --out results/ --face all --overlay",
    "vafusion predict recordings/ --out results/      # + results/index.html, summary.csv",
    "vafusion predict clip.mp4 --out results/ --model runs/gru/best.pt",
    "vafusion predict call.wav --out results/            # voice only: arousal",
    "vafusion predict clip.mp4 --out results/ --explain --model circumplex",
    "vafusion predict --live 0                       # camera 0",
    "vafusion predict --live rtsp://camera.local/stream",
    "vafusion predict --live talk.mp4 --realtime",
)


@app.command("predict", epilog=_PREDICT_EPILOG)
def predict_cmd(
    videos: list[Path] = typer.Argument(
        None, help="Video or audio files, or folders of videos.", readable=False
    ),
    out: Path = typer.Option(Path("vafusion-out"), "--out", "-o", help="Output folder."),
    model: str = typer.Option(
        "default",
        "--model",
        "-m",
        help="'default', 'circumplex' (the first model) or a checkpoint file / run folder.",
    ),
    face: str = typer.Option("main", "--face", help="main, left, right, all or a face id."),
    overlay: bool = typer.Option(False, "--overlay", help="Also write <stem>_overlay.mp4."),
    explain: bool = typer.Option(
        False, "--explain", help="Add per-cue contributions (contrib_* columns) to the CSV."
    ),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        help="Processes (0: one per core); one video is split into time chunks over them.",
    ),
    workers: int = typer.Option(None, "--workers", "-w", hidden=True),  # as extract's old name
    stride: int = typer.Option(
        1, "--stride", help="Analyse every k-th frame, interpolate the rest (rows marked)."
    ),
    valence_threshold: float = typer.Option(
        -0.1, "--stress-valence", help="Stress zone: valence below this."
    ),
    arousal_threshold: float = typer.Option(
        0.1, "--stress-arousal", help="Stress zone: arousal above this."
    ),
    live: str = typer.Option(
        None, "--live", help="Live source: camera number/device, stream URL, or file."
    ),
    realtime: bool = typer.Option(False, "--realtime", help="Live: play a file at its pace."),
    max_seconds: float = typer.Option(None, "--max-seconds", help="Live: stop after this."),
    smooth: bool = typer.Option(
        True,
        "--smooth/--no-smooth",
        help="Checkpoint models: apply the output smoothing the checkpoint carries (default) "
        "or show raw outputs.",
    ),
    fmt: str = typer.Option(
        "report",
        "--format",
        "-f",
        help="report (csv, png, html, json per video) or abaw (only the challenge's "
        "submission file <stem>.txt per video; with --face left/right, <stem>_left.txt / "
        "<stem>_right.txt).",
    ),
    link_video: bool = typer.Option(
        False, "--link-video", help="Report: link the video (relative path), do not embed it."
    ),
    no_video: bool = typer.Option(False, "--no-video", help="Report: no video player."),
    max_embed_mb: float = typer.Option(
        40.0, "--max-embed-mb", help="Report: link instead of embed videos larger than this."
    ),
) -> None:
    """Predict per-frame valence and arousal for videos (or a live source)."""
    if live is not None:
        from vafusion.predict.live import run_live

        if videos:
            raise ConfigError("give either videos or --live, not both")
        run_live(live, model, realtime=realtime, max_seconds=max_seconds)
        return
    if not videos:
        raise ConfigError("no video given (see 'vafusion predict --help')")
    from vafusion.predict.api import expand_videos, load_model, predict_to_abaw, predict_to_folder
    from vafusion.report.player import ReportOptions
    from vafusion.report.stress import StressConfig

    if fmt not in ("report", "abaw"):
        raise ConfigError(f"--format must be report or abaw, got {fmt!r}")
    if link_video and no_video:
        raise ConfigError("give either --link-video or --no-video, not both")
    stress = StressConfig(valence_threshold=valence_threshold, arousal_threshold=arousal_threshold)
    mode = "none" if no_video else ("link" if link_video else "embed")
    report = ReportOptions(video=mode, max_embed_mb=max_embed_mb, explain=explain)
    builtin = model in ("default", "circumplex")
    mdl = model if builtin else load_model(model, smooth=smooth)
    n_jobs = alias(jobs or None, workers, "--jobs", "--workers")
    if fmt == "abaw":
        results = predict_to_abaw(expand_videos(videos), out, mdl, face, jobs=n_jobs, stride=stride)
    else:
        results = predict_to_folder(
            expand_videos(videos),
            out,
            mdl,
            face,
            overlay,
            jobs=n_jobs,
            stress=stress,
            report=report,
            stride=stride,
        )
    failed = 0
    for r in results:
        if r.error:
            failed += 1
            print(f"error: {r.error}", file=sys.stderr)
        else:
            print(f"{r.video}: {r.outputs.get('html') or r.outputs.get('abaw')}")
    if failed:
        raise typer.Exit(1)


@app.command("demo", epilog="Example: vafusion demo --out vafusion-demo")
def demo_cmd(
    out: Path = typer.Option(Path("vafusion-demo"), "--out", "-o", help="Output folder."),
) -> None:
    """Run vafusion on the bundled sample clip and write the results to a folder."""
    from vafusion.demo import run_demo

    result = run_demo(out)
    print(f"demo written to {result}")


@app.command(
    "score",
    epilog=examples(
        "vafusion score results/ Annotations/VA_Estimation_Challenge/Validation_Set",
        "vafusion score results/ AFEW-VA/ --format afewva --out scores/",
    ),
)
def score_cmd(
    predictions: Path = typer.Argument(..., help="Folder of predict CSVs (or one file)."),
    labels: Path = typer.Argument(..., help="Folder of label files (or one file)."),
    fmt: str = typer.Option("affwild2", "--format", "-f", help="affwild2, afewva or csv."),
    out: Path = typer.Option(None, "--out", "-o", help="Write scores.csv and scores.json here."),
) -> None:
    """CCC, Pearson r and RMSE of predictions vs labels, per video and pooled (ABAW rule)."""
    from vafusion.predict.score import format_report, score, write_report

    rep = score(predictions, labels, fmt)
    print(format_report(rep))
    if out is not None:
        paths = write_report(rep, out)
        print(f"written: {paths['csv']} {paths['json']}")
    if rep.errors:
        raise typer.Exit(1)
