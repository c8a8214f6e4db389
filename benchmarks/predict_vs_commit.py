"""A cold ``vafusion predict`` with this checkout against the same with another commit.

Run::

    .venv/bin/python benchmarks/predict_vs_commit.py --reference-commit COMMIT \
        [--clip CLIP] [--rounds 5]

The reference commit's ``src`` is extracted to a temporary folder (``git archive``). Each
round runs ``python -m vafusion -q predict CLIP`` once with this checkout's ``src`` and
once with the reference's (``PYTHONPATH``; same interpreter and libraries), in turn.
For each run two times from the start: **main exit**, when the predict process has exited
(what a shell prompt waits for), and **pipes closed**, when its standard output and error
reach end of file (what a caller reading them waits for: the chunk workers' fork server
holds them until it has exited too). Printed: medians and ranges over the rounds, and the
per-round ratios this tree / reference.

Without ``--reference-commit`` only this tree runs. Quote the load averages printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


def run_once(src: Path, clip: Path) -> tuple[float, float]:
    """(main exit, pipes closed) seconds of one cold predict with ``src`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(src))
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "vafusion", "-q", "predict", str(clip), "--out", out]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        exited: list[tuple[float, int]] = []

        def wait() -> None:
            _, status = os.waitpid(p.pid, 0)
            exited.append((time.perf_counter() - t0, status))

        waiter = threading.Thread(target=wait)
        waiter.start()
        p.stdout.read()
        err = p.stderr.read()
        closed = time.perf_counter() - t0
        waiter.join()
        p.returncode = 0  # reaped by the waiter; keep Popen from waiting again
        main_exit, status = exited[0]
        if status != 0:
            raise SystemExit(f"predict failed ({status}): {err[-2000:].decode(errors='replace')}")
        if not (Path(out) / f"{clip.stem}.json").is_file():
            raise SystemExit("predict wrote no summary")
    return main_exit, closed


def summary(x: np.ndarray) -> str:
    return f"{np.median(x):.2f} s ({x.min():.2f}-{x.max():.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reference-commit", help="git commit of the tree to compare with")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as ref:
        trees = {"this tree": REPO / "src"}
        if args.reference_commit:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.reference_commit, "src"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", ref], input=archive, check=True)
            trees["reference"] = Path(ref) / "src"
        compare(trees, args)


def compare(trees: dict[str, Path], args) -> None:
    """Interleaved rounds over ``trees`` (name -> src folder); prints the figures."""
    print(f"clip {args.clip.name}; load averages before: {os.getloadavg()}")
    run_once(REPO / "src", args.clip)  # page cache warm: files, not imports, are cold
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
    for r in range(args.rounds):
        for name, src in trees.items():
            times[name].append(run_once(src, args.clip))
            m, c = times[name][-1]
            print(f"  round {r + 1} {name:9s}: main exit {m:.2f} s, pipes closed {c:.2f} s")
    for name, t in times.items():
        a = np.asarray(t)
        print(f"{name:9s}: main exit {summary(a[:, 0])}, pipes closed {summary(a[:, 1])}")
    if "reference" in times:
        a, b = np.asarray(times["this tree"]), np.asarray(times["reference"])
        for k, what in enumerate(("main exit", "pipes closed")):
            ratio = a[:, k] / b[:, k]
            print(
                f"ratio this tree / reference, {what}: median {np.median(ratio):.3f} "
                f"({ratio.min():.3f}-{ratio.max():.3f}); median saving "
                f"{np.median(b[:, k] - a[:, k]):.2f} s"
            )
    print(f"load averages after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
