"""One tool: the same option names and short flags across commands, old spellings kept as
hidden aliases, every feature set listed, one split vocabulary."""

from __future__ import annotations

import pandas as pd
import typer.main
from typer.testing import CliRunner

from vafusion.cli import app
from vafusion.extraction import FEATURE_SETS


def _commands() -> dict:
    root = typer.main.get_command(app)
    out = {}
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):  # a group: store, datasets
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out


def test_each_long_option_has_one_short_flag_everywhere():
    longs: dict[str, set] = {}
    shorts: dict[str, set] = {}
    for cmd in _commands().values():
        for p in cmd.params:
            if getattr(p, "hidden", False) or not p.opts[0].startswith("--"):
                continue
            long = p.opts[0]
            short = tuple(o for o in p.opts + p.secondary_opts if len(o) == 2)
            longs.setdefault(long, set()).add(short)
            for s in short:
                shorts.setdefault(s, set()).add(long)
    clash = {k: v for k, v in longs.items() if len(v) > 1}
    assert not clash, f"one option, several short flags: {clash}"
    clash = {k: v for k, v in shorts.items() if len(v) > 1}
    assert not clash, f"one short flag, several options: {clash}"
    cmds = _commands()
    for name in ("train", "evaluate", "ablate", "predict", "extract", "import-openface"):
        assert "-o" in next(p for p in cmds[name].params if p.name == "out").opts, name
    for name in ("extract", "predict"):
        assert next(p for p in cmds[name].params if p.name == "jobs").opts == ["--jobs", "-j"]
    for name in ("import-openface", "datasets check"):
        assert any(p.opts == ["--tolerance"] for p in cmds[name].params), name
    ablate = {o for p in cmds["ablate"].params for o in p.opts}
    assert {"--device", "--lr", "--loss", "--patience"} <= ablate


def test_extract_help_lists_every_feature_set():
    text = CliRunner().invoke(app, ["extract", "--help"], terminal_width=200).output
    missing = [name for name in FEATURE_SETS if name not in text]
    assert not missing, missing


def test_old_spellings_still_work_and_split_validation_accepted(tmp_path):
    """A generic-CSV dataset built here: `datasets check --split validation` and the hidden
    `--tolerance-frames` give the same rows as `--split val --tolerance`."""
    (tmp_path / "a.csv").write_text("frame,valence,arousal\n0,0.1,0.2\n1,0.1,0.2\n")
    (tmp_path / "dataset.csv").write_text(
        "name,video,split,annotation\nx,x.mp4,validation,a.csv\ny,y.mp4,train,a.csv\n"
    )
    runner = CliRunner()
    args = ["datasets", "check", str(tmp_path), "--no-probe", "--json"]
    new = runner.invoke(app, [*args, "--split", "val", "--tolerance", "3"])
    old = runner.invoke(app, [*args, "--split", "validation", "--tolerance-frames", "3"])
    assert new.output == old.output and '"split": "val"' in new.output, new.output
    assert '"name": "y"' not in new.output  # only the validation split was checked
    both = runner.invoke(app, [*args, "--tolerance", "3", "--tolerance-frames", "4"])
    assert both.exit_code != 0
    help_text = runner.invoke(app, ["datasets", "check", "--help"]).output
    assert "--tolerance-frames" not in help_text  # hidden alias


def test_epochs_count_from_one_in_log_and_result(tmp_path):
    """SYNTHETIC data (training-loop bookkeeping): log.csv and result.json count epochs
    from 1, as the console does."""
    import json

    from vafusion.data.synthetic import synthetic_spec, synthetic_videos
    from vafusion.train import TrainConfig, fit

    dims = {"audio": 8, "expression": 8, "facepose": 8}
    tr = synthetic_videos(3, (60, 80), dims, seed=0)
    va = synthetic_videos(1, (60, 80), dims, seed=1, split="val")
    cfg = TrainConfig(epochs=2, patience=0, num_threads=1, progress=False)
    r = fit(cfg, tr, va, synthetic_spec(dims), tmp_path / "run")
    assert list(pd.read_csv(tmp_path / "run" / "log.csv")["epoch"]) == [1, 2]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["best_epoch"] == r.best_epoch and r.best_epoch in (1, 2)
