"""The ``blendshapes`` feature set against MediaPipe's own FaceLandmarker (Tasks API).

Real media only: the bundled sample clip and tests/data/clips/face_noface.mov; MediaPipe's
FaceLandmarker bundle is tests/data/models/face_landmarker.task (Apache-2.0, see NOTICE).
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
from tests.conftest import CLIP_FRAMES, DATA, REPO

from vafusion.errors import ModelError
from vafusion.extraction import Pipeline, PipelineConfig
from vafusion.faces.blendshapes import (
    BLENDSHAPE_COLUMNS,
    BLENDSHAPE_NAMES,
    MODEL_SHA256,
    SUBSET,
    BlendshapeModel,
    default_model_path,
    model_input,
)
from vafusion.faces.blendshapes_set import (
    BlendshapesConfig,
    BlendshapesSet,
    NeutralReservoir,
    blendshape_columns,
)

TASK_FILE = DATA / "models" / "face_landmarker.task"

#: Labelled moments of the bundled sample, chosen by looking at its frames: an open-mouth
#: smile (teeth showing) and a tearful face with raised inner brows and a hand at the mouth.
SMILE = slice(300, 421)
TEARFUL = slice(160, 206)


def col(name: str) -> int:
    return BLENDSHAPE_COLUMNS.index(f"bs_{name}")


@pytest.fixture(scope="module")
def model() -> BlendshapeModel:
    return BlendshapeModel()


def _load_script(name: str):
    """A module of scripts/ (the comparison with the Tasks API lives there, one copy)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _load_script("compare_blendshapes_tasks")


@pytest.fixture(scope="module")
def tasks_reference(sample_clip):
    """MediaPipe FaceLandmarker (video mode) on every frame of the sample."""
    assert TASK_FILE.is_file(), f"{TASK_FILE} missing"
    scores, meshes, names = compare.tasks_reference(sample_clip, TASK_FILE)
    assert names == list(BLENDSHAPE_NAMES)
    return scores, meshes


@pytest.fixture(scope="module")
def sample_tables(sample_clip):
    """facepose and blendshapes (with deltas) of the sample, from one decode pass."""
    config = PipelineConfig.of(
        ("facepose", "blendshapes"), {"blendshapes": BlendshapesConfig(neutral=True)}
    )
    with Pipeline(config) as pipe:
        return pipe.process(sample_clip).tables


def test_names_columns_and_subset():
    assert len(BLENDSHAPE_NAMES) == 52 and len(set(BLENDSHAPE_NAMES)) == 52
    assert BLENDSHAPE_COLUMNS[:3] == ("bs_neutral", "bs_browDownLeft", "bs_browDownRight")
    assert BLENDSHAPE_COLUMNS[-1] == "bs_noseSneerRight"
    assert len(SUBSET) == 146 and sorted(set(SUBSET)) == list(SUBSET) and SUBSET[-1] == 477
    cols = blendshape_columns(neutral=True)
    assert len(cols) == 104 and cols[52] == "bs_neutral_delta"
    with pytest.raises(ValueError):
        model_input(np.zeros((2, 468, 3)))


def test_tampered_model_is_refused(tmp_path, model):
    assert model.sha256 == MODEL_SHA256
    bad = tmp_path / "face_blendshapes.onnx"
    shutil.copyfile(default_model_path(), bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        BlendshapeModel(bad, expected_sha256=MODEL_SHA256)
    with pytest.raises(ModelError, match="not found"):
        BlendshapeModel(tmp_path / "missing.onnx")


@pytest.mark.slow
def test_same_scores_as_mediapipe_from_its_own_mesh(model, tasks_reference):
    """MediaPipe's 478 points through our network give MediaPipe's own scores."""
    scores, meshes = tasks_reference
    frames = sorted(meshes)
    assert len(frames) > 400
    ours = model(np.stack([meshes[f] for f in frames]))
    ref = np.stack([scores[f] for f in frames])
    assert np.abs(ours - ref).max() < 1e-3


@pytest.mark.slow
def test_batch_and_scale_invariance(model, tasks_reference):
    _, meshes = tasks_reference
    batch = np.stack([meshes[f] for f in sorted(meshes)[:40]])
    one = np.concatenate([model(m[None]) for m in batch])
    np.testing.assert_allclose(model(batch), one, atol=1e-4)
    assert model(batch[:0]).shape == (0, 52)
    # blind to translation and uniform scale (the decoder's downscaling does not matter)
    np.testing.assert_allclose(model(batch * 0.37 + 12.0), model(batch), atol=1e-4)
    # but not to the aspect: normalised (x / W, y / H) coordinates would be wrong
    assert np.abs(model(batch / [640.0, 360.0, 1.0]) - model(batch)).max() > 0.05


@pytest.mark.slow
def test_agrees_with_tasks_api_on_the_sample(sample_tables, tasks_reference):
    """Our tracker's mesh vs the FaceLandmarker's (a newer mesh model): close, not equal."""
    table = sample_tables["blendshapes"]
    ref, _ = tasks_reference
    ok = table.valid & (table.face_id == 0)
    ours = dict(zip(table.frame[ok].tolist(), table.values[ok, :52], strict=True))
    frames, sd, corr, mad = compare.agreement(ours, ref)
    assert len(frames) >= 0.95 * CLIP_FRAMES["WolfgangLanger_Pexels.mp4"]
    moving = sd > 0.05
    assert moving.sum() >= 15
    assert mad.mean() < 0.06
    assert np.nanmedian(corr[moving]) > 0.8
    for name in ("mouthSmileRight", "browInnerUp", "eyeBlinkLeft", "mouthUpperUpLeft"):
        assert corr[BLENDSHAPE_NAMES.index(name)] > 0.8, name


def test_labelled_moments_of_the_sample(sample_tables):
    table = sample_tables["blendshapes"]
    assert (table.face_id == 0).all() and table.valid.all()  # one face, every frame
    v = table.values
    smile = 0.5 * (v[:, col("mouthSmileLeft")] + v[:, col("mouthSmileRight")])
    brow = v[:, col("browInnerUp")]
    assert smile[SMILE].mean() > 0.6
    assert smile[SMILE].mean() > smile[TEARFUL].mean() + 0.3
    assert brow[TEARFUL].mean() > 0.2
    assert brow[TEARFUL].mean() > 3 * brow[SMILE].mean()
    assert ((v[:, :52] >= 0) & (v[:, :52] <= 1)).all()


def test_neutral_deltas_are_scores_minus_the_running_median(sample_tables):
    table = sample_tables["blendshapes"]
    raw, delta = table.values[:, :52], table.values[:, 52:]
    cfg = BlendshapesConfig()
    # recompute the running median independently of NeutralReservoir
    n, size = len(raw), cfg.batch_faces
    for start in range(0, n, size):
        end = min(start + size, n)
        samples = raw[:end][:: cfg.neutral_stride][-cfg.neutral_window :]
        np.testing.assert_allclose(
            delta[start:end], raw[start:end] - np.median(samples, axis=0), atol=1e-6
        )
    assert (delta < 0).any() and (delta > 0).any()


def test_neutral_reservoir_maths():
    """Synthetic: samples every 2nd row, keeps the last 3."""
    res = NeutralReservoir(window=8, stride=2)
    res.samples = type(res.samples)(maxlen=3)
    x = np.arange(10, dtype=float)[:, None]
    assert res.update(x[:5])[0] == 2.0  # samples 0, 2, 4
    assert res.update(x[5:])[0] == 6.0  # samples 4, 6, 8 (stride phase kept across calls)


def test_nan_exactly_where_the_face_is_lost(clips_dir):
    clip = clips_dir / "face_noface.mov"
    with Pipeline(("facepose", "blendshapes")) as pipe:
        tables = pipe.process(clip).tables
    assert isinstance(pipe.sets["blendshapes"], BlendshapesSet)
    bs, fp = tables["blendshapes"], tables["facepose"]
    assert bs.columns == list(BLENDSHAPE_COLUMNS) and bs.values.shape[1] == 52
    # the same rows as facepose (same tracker pass): same frames, ids and validity
    np.testing.assert_array_equal(bs.frame, fp.frame)
    np.testing.assert_array_equal(bs.face_id, fp.face_id)
    np.testing.assert_array_equal(bs.valid, fp.valid)
    assert set(bs.frame.tolist()) == set(range(CLIP_FRAMES["face_noface.mov"]))
    assert 0 < bs.valid.sum() < len(bs.valid)  # the clip has both
    assert np.isnan(bs.values[~bs.valid]).all()
    assert np.isfinite(bs.values[bs.valid]).all()
    assert bs.meta["version"] == "blendshapes-1" and bs.meta["model_sha256"] == MODEL_SHA256
