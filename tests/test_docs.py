"""The docs cannot rot: every ``vafusion ...`` command shown in README.md and docs/*.md
must parse against the real CLI (options exist, types convert, required arguments given).

Commands are parsed with click's own parser (``make_context``) without being run; the
commands that are cheap to run for real are executed by the feature tests and by
``test_documented_quickstart_runs`` below.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from vafusion.cli import app

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|console|shell)\n(.*?)```", re.S)


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOC_FILES:
        for block in FENCE.findall(path.read_text(encoding="utf-8")):
            # join continuation lines
            text = re.sub(r"\\\n\s*", " ", block)
            for line in text.splitlines():
                line = line.split(" #")[0].strip().removeprefix("$ ").strip()
                if line.startswith("vafusion ") or line.startswith("python -m vafusion "):
                    found.append((path.name, line))
    return found


COMMANDS = documented_commands()


def test_docs_show_commands():
    assert len(COMMANDS) >= 8, COMMANDS


@pytest.mark.parametrize(("doc", "line"), COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_documented_command_parses(doc, line):
    argv = shlex.split(line)
    argv = argv[1:] if argv[0] == "vafusion" else argv[3:]
    group = typer.main.get_command(app)
    ctx = group.make_context("vafusion", list(argv), resilient_parsing=False)
    # descend through sub-commands (and sub-groups) exactly as click would; typer ships
    # its own copy of click, so groups are recognised by their resolve_command method
    while hasattr(ctx.command, "resolve_command"):
        rest = list(getattr(ctx, "_protected_args", [])) + list(ctx.args)
        assert rest, f"{doc}: {line!r} names no sub-command"
        name, cmd, rest = ctx.command.resolve_command(ctx, rest)
        assert cmd is not None, f"{doc}: unknown command in {line!r}"
        ctx = cmd.make_context(name, rest, parent=ctx, resilient_parsing=False)
    assert not ctx.args, f"{doc}: unexpected arguments {ctx.args} in {line!r}"


def test_documented_quickstart_runs(clips_dir):
    """The README's probe example runs for real."""
    out = subprocess.run(
        [sys.executable, "-m", "vafusion", "probe", str(clips_dir / "d20.mp4"), "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and '"n_frames": 175' in out.stdout


def _bench_commands(text: str) -> set[str]:
    """``python benchmarks/...`` command lines in ``text`` (any interpreter path)."""
    text = re.sub(r"\\\n\s*", " ", text)
    found = re.findall(r"(?:\S*/)?python (benchmarks/\S+\.py[^`\n]*)", text)
    return {" ".join(c.split()) for c in found}


def test_make_bench_runs_the_benchmark_commands_the_docs_quote():
    """``make bench`` runs exactly the benchmark commands given in BENCHMARKS.md's code blocks
    and quoted in docs/*.md (same scripts, same options)."""
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^bench:.*?\n((?:\t.*\n|\s+\S.*\\\n)+)", makefile, re.M)
    assert recipe, "no bench target in the Makefile"
    make = _bench_commands(recipe.group(1).replace("$(BIN)/python", "python"))
    bench_md = (REPO / "BENCHMARKS.md").read_text()
    quoted = set().union(*(_bench_commands(b) for b in FENCE.findall(bench_md)))
    for path in sorted((REPO / "docs").glob("*.md")):
        quoted |= {c for c in _bench_commands(path.read_text()) if " --" in c}
    assert make == quoted, (sorted(make - quoted), sorted(quoted - make))
