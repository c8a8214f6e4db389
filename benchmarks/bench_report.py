"""Cost of predict's report (interactive HTML, index, plots) against prediction alone.

Run::

    .venv/bin/python benchmarks/bench_report.py [--clip CLIP] [--seconds 60] [--repeat 3]

Each round runs ``python -m vafusion -q predict CLIP -j 1`` as a new process in two modes,
interleaved round by round (A B A B ...) so that load changes hit both alike:

* ``reference``: ``--format abaw`` (prediction, then one small text file per video: no CSV,
  PNG, HTML, JSON, thumbnails, index);
* ``report``: the default outputs (CSV, PNG, the interactive HTML report with the video
  embedded, JSON, thumbnails, ``index.html``, ``summary.csv``).

Printed: wall seconds per round, and the ratio report / reference per round with its
median and min-max spread (the issue's bound: the report may slow predict by at most 5 %,
i.e. a median ratio <= 1.05). Without ``--clip`` the clip is *synthetic*: ``--seconds`` of
the bundled sample clip looped by benchmarks/loop_clip.py (say so when quoting). Load
averages are printed: quote them, and run on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"
MODES = {"reference": ["--format", "abaw"], "report": []}


def run_once(clip: Path, extra: list[str]) -> float:
    """Wall seconds of one cold ``vafusion predict`` process (outputs checked)."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-m", "vafusion", "-q", "predict", str(clip), "-j", "1",
             "--out", out, *extra],
            capture_output=True,
            text=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        assert p.returncode == 0, p.stderr[-2000:]
        want = "index.html" if not extra else f"{clip.stem}.txt"
        assert (Path(out) / want).is_file(), sorted(os.listdir(out))
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, help="video to predict (default: synthetic loop)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the looped clip")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (>= 3 for a median)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(Path(__file__).parent))
        from loop_clip import benchmark_clip

        clip = benchmark_clip(args.clip, CLIP, args.seconds, tmp)
        run_once(clip, MODES["reference"])  # warm the page cache
        walls: dict[str, list[float]] = {m: [] for m in MODES}
        for r in range(args.repeat):
            for mode, extra in MODES.items():
                walls[mode].append(run_once(clip, extra))
                print(
                    f"  round {r + 1} {mode}: {walls[mode][-1]:.2f} s "
                    f"(1-min load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    ratio = np.asarray(walls["report"]) / np.asarray(walls["reference"])
    print(
        f"report / reference: median {np.median(ratio):.3f} "
        f"(min {ratio.min():.3f}, max {ratio.max():.3f}) over {len(ratio)} rounds; "
        f"reference median {np.median(walls['reference']):.2f} s"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
