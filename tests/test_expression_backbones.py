"""Pluggable expression backbones: ONNX, TorchScript, fine-tuned weights, the registry."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vafusion.errors import ConfigError, ModelError
from vafusion.expression.backbone import (
    backbone_kinds,
    load_backbone,
    parse_backbone_spec,
    prepare_input,
)
from vafusion.expression.extractor import ExpressionConfig, ExpressionSet
from vafusion.extraction.config import PipelineConfig, set_key

pytestmark = [  # the test models are built with torch's deprecated TorchScript-era tools
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning"),
]

FIXTURE = Path(__file__).parent / "fixtures" / "expression" / "minixception_reference.npz"


class TinyNet(nn.Module):
    """A small real CNN: 3x32x32 -> (embedding 6, logits 3)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        emb = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return emb, self.head(emb)


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """Real face crops (fixture) as 112x112 RGB uint8."""
    import cv2

    faces = np.load(FIXTURE)["faces"][:5]
    return np.stack([cv2.cvtColor(cv2.resize(f, (112, 112)), cv2.COLOR_GRAY2RGB) for f in faces])


OPTS = {"input_size": "32", "mean": "0.5,0.5,0.5", "std": "0.25", "classes": "a,b,c"}


def _reference(net: TinyNet, crops: np.ndarray):
    from vafusion.expression.backbone import input_options_from

    x = prepare_input(crops, input_options_from({"input_size": 32, "mean": 0.5, "std": 0.25}))
    with torch.inference_mode():
        emb, logits = net(torch.from_numpy(x))
    return emb.numpy(), torch.softmax(logits, 1).numpy()


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.onnx.export(
        TinyNet().eval(),
        torch.zeros(1, 3, 32, 32),
        str(path),
        input_names=["image"],
        output_names=["emb", "logits"],
        dynamic_axes={"image": {0: "n"}},
        dynamo=False,
    )
    return path


def test_onnx_backbone_runs_a_real_model(onnx_model, crops):
    opts = {**OPTS, "output": "emb", "probs_output": "logits", "softmax": "true"}
    bb = load_backbone(f"onnx:{onnx_model}", opts)
    assert bb.embedding_dim == 6 and bb.class_names == ("a", "b", "c")
    out = bb(crops)
    emb_ref, probs_ref = _reference(TinyNet(), crops)
    np.testing.assert_allclose(out.embedding, emb_ref, atol=1e-5)
    np.testing.assert_allclose(out.probs, probs_ref, atol=1e-5)
    ext = ExpressionSet(ExpressionConfig(backbone=f"onnx:{onnx_model}"), backbone=bb)
    assert ext.columns == [f"expr_{i}" for i in range(6)] + ["emo_a", "emo_b", "emo_c"]


def test_onnx_output_names_are_checked(onnx_model):
    with pytest.raises(ModelError, match="outputs are emb, logits"):
        load_backbone(f"onnx:{onnx_model}", {"input_size": 32, "output": "features"})


def test_onnx_4d_feature_map_is_pooled(tmp_path, crops):
    path = tmp_path / "map.onnx"
    conv = nn.Conv2d(3, 4, 3, padding=1).eval()
    torch.onnx.export(
        conv, torch.zeros(1, 3, 16, 16), str(path), dynamic_axes={"input": {0: "n"}},
        input_names=["input"], dynamo=False,
    )  # fmt: skip
    bb = load_backbone(f"onnx:{path}", ["input_size=16", "color=bgr"])
    assert bb.embedding_dim == 4 and bb.class_names == ()
    out = bb(crops[:2])
    assert out.embedding.shape == (2, 4) and out.probs is None


def test_torchscript_backbone_runs_a_real_module(tmp_path, crops):
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.trace(TinyNet().eval(), torch.zeros(1, 3, 32, 32)), str(path))
    opts = {**OPTS, "output": "0", "probs_output": "1", "softmax": "1"}
    bb = load_backbone(f"torchscript:{path}", opts, num_threads=1)
    out = bb(crops)
    emb_ref, probs_ref = _reference(TinyNet(), crops)
    np.testing.assert_allclose(out.embedding, emb_ref, atol=1e-5)
    np.testing.assert_allclose(out.probs, probs_ref, atol=1e-5)


def test_torchscript_refuses_plain_checkpoints(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(TinyNet().state_dict(), path)
    with pytest.raises(ModelError, match="TorchScript"):
        load_backbone(f"torchscript:{path}", {"input_size": 32})
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="TorchScript"):
        load_backbone(f"torchscript:{junk}")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_finetuned_minixception_weights_load_safely(tmp_path, crops):
    from vafusion.expression.minixception import load_minixception

    state = load_minixception(fold_batchnorm=False).state_dict()
    path = tmp_path / "finetuned.pt"
    torch.save(state, path)
    tuned = load_backbone(f"minixception:{path}")
    builtin = load_backbone("minixception")
    np.testing.assert_allclose(tuned(crops).probs, builtin(crops).probs, atol=1e-5)
    assert tuned.identity()["sha256"] != builtin.identity()["sha256"]
    # arbitrary pickled objects are refused by torch.load(weights_only=True)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"x": _Evil()}, fh)
    with pytest.raises(ModelError, match="weights-only"):
        load_backbone(f"minixception:{evil}")
    wrong = tmp_path / "wrong.pt"
    torch.save(TinyNet().state_dict(), wrong)
    with pytest.raises(ModelError, match="does not fit"):
        load_backbone(f"minixception:{wrong}")


def test_backbone_identity_changes_the_config_hash(onnx_model, tmp_path):
    other = tmp_path / "other.onnx"
    torch.onnx.export(
        TinyNet(seed=1).eval(), torch.zeros(1, 3, 32, 32), str(other),
        input_names=["image"], output_names=["emb", "logits"], dynamo=False,
    )  # fmt: skip

    def ext(spec, *opts):
        return ExpressionSet(ExpressionConfig(backbone=spec, backbone_options=opts))

    builtin = ExpressionSet()
    a = ext(f"onnx:{onnx_model}", "input_size=32")
    b = ext(f"onnx:{other}", "input_size=32")
    c = ext(f"onnx:{onnx_model}", "input_size=32", "std=0.5")
    hashes = {set_key(x, PipelineConfig()) for x in (builtin, a, b, c)}
    assert len(hashes) == 4
    assert a.identity()["backbone"]["sha256"] != b.identity()["backbone"]["sha256"]
    # batch size and threads do not change values: same hash
    d = ExpressionSet(ExpressionConfig(batch_size=7, num_threads=1))
    assert set_key(d, PipelineConfig()) == set_key(builtin, PipelineConfig())


def test_registry_and_bad_specs(tmp_path):
    assert {"minixception", "onnx", "torchscript"} <= set(backbone_kinds())
    assert parse_backbone_spec("onnx:/m/x.onnx") == ("onnx", "/m/x.onnx")
    assert parse_backbone_spec("minixception") == ("minixception", None)
    with pytest.raises(ConfigError, match="unknown expression backbone"):
        load_backbone("expnet:/x")
    with pytest.raises(ModelError, match="not found"):
        load_backbone(f"onnx:{tmp_path / 'missing.onnx'}")
    with pytest.raises(ModelError, match="needs a model path"):
        load_backbone("onnx")
    with pytest.raises(ConfigError, match="unknown backbone option"):
        load_backbone("onnx:" + str(Path(__file__)), {"size": 3})
    with pytest.raises(ConfigError, match="only the 'engine' option"):
        load_backbone("minixception", {"input_size": 32})
    with pytest.raises(ConfigError, match="key=value"):
        ExpressionConfig(backbone_options=("input_size",))


def test_extract_cli_selects_backbone(onnx_model, tmp_path, clip_copy):
    """`vafusion extract --backbone onnx:...` stores a separate, differently-shaped entry."""
    import subprocess
    import sys

    from vafusion.store import FeatureStore

    video = clip_copy("single_face.mp4")
    store = tmp_path / "store"
    base = [sys.executable, "-m", "vafusion", "extract", str(video), "--out", str(store)]
    common = ["--features", "expression"]
    subprocess.run([*base, *common], check=True, capture_output=True)
    opts = {**OPTS, "output": "emb", "probs_output": "logits", "softmax": "true"}
    options = [f"--backbone-option={k}={v}" for k, v in opts.items()]
    subprocess.run(
        [*base, *common, "--backbone", f"onnx:{onnx_model}", *options],
        check=True,
        capture_output=True,
    )
    fs = FeatureStore(store)
    entries = fs.entries("single_face", "expression")
    assert len({e.extractor_hash for e in entries}) == 2  # backbones never share an entry
    assert sorted(e.dim for e in entries) == [6 + 3, 128 + 7]
