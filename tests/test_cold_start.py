"""Cold start: the CLI's help and predict's default model import only what they need.

Checked structurally (which modules get imported), not with a timer: speed checks belong
in benchmarks (benchmarks/bench_predict.py measures the cold-start wall time).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: libraries that cost 0.1-3 s to import; none is needed to print help
HEAVY = {"torch", "mediapipe", "onnxruntime", "av", "cv2", "pandas", "matplotlib", "numpy"}


def imported_modules(*args: str) -> set[str]:
    """Top-level modules a fresh ``python -X importtime ARGS`` imports."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    names = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("command", [["--help"], ["predict", "--help"], ["extract", "--help"]])
def test_help_imports_no_heavy_library(command):
    names = imported_modules("-m", "vafusion", *command)
    assert "vafusion" in names and "typer" in names  # the parse worked
    assert not names & HEAVY, sorted(names & HEAVY)


PREDICT_SCRIPT = """
import sys
from pathlib import Path
from vafusion.predict.runner import predict_one

# the task a predict worker runs: load the default model, predict, write the outputs
r = predict_one("default", Path(sys.argv[1]), "clip", Path(sys.argv[2]), "main", None, False)
assert r.error is None, r.error
print(sorted(m for m in ("torch", "torchvision", "tensorflow", "scipy") if m in sys.modules))
"""


def test_predict_with_the_default_model_never_imports_torch(clips_dir, tmp_path):
    # the whole predict task in this process: model load, tracking, network, report; nor
    # scipy (importing scipy.signal for the smoother took ~1.5 s of a cold start)
    clip = clips_dir / "single_face.mp4"
    p = subprocess.run(
        [sys.executable, "-c", PREDICT_SCRIPT, str(clip), tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "clip.csv").is_file()


LIVE_SCRIPT = """
import io, sys
from vafusion.predict.live import run_live

out = io.StringIO()
stats = run_live(sys.argv[1], output=out, max_seconds=60)
assert stats.processed > 0 and out.getvalue().count("valence") == stats.processed
print(sorted(m for m in ("torch", "torchvision", "tensorflow", "scipy") if m in sys.modules))
"""


def test_live_with_the_default_model_never_imports_torch(clips_dir):
    p = subprocess.run(
        [sys.executable, "-c", LIVE_SCRIPT, str(clips_dir / "single_face.mp4")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "[]"


FREEZE_PROBE = """
import gc, sys
from vafusion.cli import main
{call}
print("frozen", gc.get_freeze_count())
"""


@pytest.mark.parametrize(
    ("call", "frozen"),
    [
        ("sys.argv = ['vafusion', '--help']\ntry:\n    main()\nexcept SystemExit:\n    pass", True),
        ("try:\n    main(['--help'])\nexcept SystemExit:\n    pass", False),
    ],
)
def test_the_console_script_freezes_its_heap_for_exit(call, frozen):
    """The console script (``main()`` reading ``sys.argv``) freezes the heap when the
    command is over, so the interpreter's shutdown skips collecting it; ``main(argv)``
    called by a longer-lived process (a notebook, a test) leaves its collector alone."""
    p = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE.format(call=call)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    count = int(p.stdout.split("frozen")[-1])
    assert (count > 1000) if frozen else (count == 0), p.stdout[-500:]
