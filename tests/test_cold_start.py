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
from vafusion.predict.api import predict_to_folder

r = predict_to_folder([sys.argv[1]], sys.argv[2], jobs=int(sys.argv[3]))[0]
assert r.error is None, r.error
print(sorted(m for m in ("torch", "torchvision", "tensorflow") if m in sys.modules))
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_predict_with_the_default_model_never_imports_torch(clips_dir, tmp_path, jobs):
    # jobs=1: the video runs in an isolated worker process; jobs=2 (one video): in this
    # process, its time chunks in worker processes -- either way this process must not
    # pay torch's import, and the work is done in the process that prints
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            PREDICT_SCRIPT,
            str(clips_dir / "single_face.mp4"),
            tmp_path,
            str(jobs),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "single_face.csv").is_file()
