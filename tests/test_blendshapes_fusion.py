"""``blendshapes`` as a stored, exportable feature set and a fusion branch, on REAL clips
with SYNTHETIC labels: extract -> store -> export; ablate with ``blendshapes`` and
``audio+blendshapes+facepose`` rows; predict from the checkpoint rebuilds the set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.conftest import CLIP_FRAMES
from tests.test_train_e2e_clips import _labels

TRAIN, VAL = "single_face.mp4", "d0.mp4"


@pytest.fixture(scope="module")
def layout(tmp_path_factory, clips_dir):
    from vafusion.extraction import extract

    root = tmp_path_factory.mktemp("bsfusion")
    aff = root / "aff"
    (aff / "videos").mkdir(parents=True)
    ann = aff / "Annotations" / "VA_Estimation_Challenge"
    for k, (folder, clip) in enumerate((("Train_Set", TRAIN), ("Validation_Set", VAL))):
        (ann / folder).mkdir(parents=True)
        (aff / "videos" / clip).symlink_to(clips_dir / clip)
        lab = _labels(CLIP_FRAMES[clip], seed=k)
        lines = ["valence,arousal", *(f"{a:.4f},{b:.4f}" for a, b in lab)]
        (ann / folder / f"{clip.split('.')[0]}.txt").write_text("\n".join(lines) + "\n")
    store = root / "store"
    report = extract([aff / "videos"], store, ("audio", "blendshapes", "facepose"))
    assert report.ok, report.failed
    return root, aff, store


@pytest.mark.slow
def test_stored_and_exported(layout, tmp_path):
    from vafusion.faces.blendshapes import BLENDSHAPE_COLUMNS
    from vafusion.store import FeatureStore
    from vafusion.store.export import export_video

    _, _, store = layout
    table = FeatureStore(store, create=False).get("single_face", "blendshapes")
    assert table.columns == list(BLENDSHAPE_COLUMNS)
    assert table.meta["version"] == "blendshapes-1"
    out = export_video(store, "single_face", tmp_path / "x.csv", "blendshapes,facepose")
    df = pd.read_csv(out)
    assert len(df) == CLIP_FRAMES[TRAIN]
    assert {"bs_browDownLeft", "bs_jawOpen", "AU12_r", "face_valid"} <= set(df.columns)
    ok = df["face_valid"] == 1
    assert ok.mean() > 0.5 and df.loc[ok, "bs_jawOpen"].between(0, 1).all()


@pytest.mark.slow
def test_ablate_rows_and_predict_from_the_checkpoint(layout, clips_dir):
    from vafusion.predict.api import predict
    from vafusion.train import TrainConfig
    from vafusion.train.ablate import ablate
    from vafusion.train.checkpoint import load_checkpoint

    root, aff, store = layout
    cfg = TrainConfig(epochs=1, batch_size=4, num_threads=1, progress=False, patience=0)
    models = ("blendshapes", "audio+blendshapes+facepose")
    rows = ablate(cfg, aff, store, root / "ablate", models=models)
    assert [r["features"] for r in rows] == ["Baseline", "Blendshapes only",
                                             "Audio+Blendshapes+FacePose"]  # fmt: skip
    assert all(np.isfinite(r["ours_mean"]) for r in rows[1:])
    assert "Audio+Blendshapes+FacePose" in (root / "ablate" / "table1.md").read_text()
    run = root / "ablate" / "runs" / "audio+blendshapes+facepose"
    ckpt = load_checkpoint(run / "best.pt")
    assert list(ckpt["spec"]["dims"]) == ["audio", "blendshapes", "facepose"]
    assert ckpt["spec"]["dims"]["blendshapes"] == 52
    assert ckpt["feature_configs"]["blendshapes"]["config"]["neutral"] is False
    df = predict(clips_dir / TRAIN, out=root / "pred", model=run)
    assert len(df) == CLIP_FRAMES[TRAIN]
    face = df["face_valid"].to_numpy() == 1
    assert np.isfinite(df[["valence", "arousal"]].to_numpy()[face]).all()


def test_fusion_gru_keeps_the_papers_three_branches():
    from vafusion.models.registry import model_modalities

    assert model_modalities("fusion-gru") == ("audio", "expression", "facepose")
    assert model_modalities("facepose+blendshapes+audio") == ("audio", "blendshapes", "facepose")
