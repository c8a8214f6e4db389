"""--model CHECKPOINT: a real (untrained, randomly initialised) audio model saved with the
training code's checkpoint writer, applied to a real clip end to end."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import CLIP_FRAMES

from vafusion.config import config_to_dict

pytestmark = pytest.mark.slow


@pytest.fixture
def audio_checkpoint(tmp_path):
    import torch  # a dependency: missing is a failure, not a skip

    from vafusion.data.normalize import Normalizer
    from vafusion.data.sequences import FeatureSpec
    from vafusion.features.audio import audio_columns
    from vafusion.models.fusion import ModelConfig
    from vafusion.models.registry import build_model
    from vafusion.train.checkpoint import save_checkpoint
    from vafusion.train.config import TrainConfig

    cols = audio_columns()
    spec = FeatureSpec(
        dims={"audio": len(cols)}, columns={"audio": cols}, feature_sets={"audio": "audio"}
    )
    config = TrainConfig(model=ModelConfig(name="audio"))
    torch.manual_seed(0)
    net = build_model(config.model, spec)
    norm = Normalizer({"audio": np.zeros(len(cols))}, {"audio": np.full(len(cols), 30.0)})
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(
        path,
        {
            "config": config_to_dict(config),
            "spec": spec.to_dict(),
            "normalizer": norm.to_state(),
            "model_state": net.state_dict(),
        },
    )
    return path.parent


def test_checkpoint_model_predicts_every_frame(audio_checkpoint, clips_dir, tmp_path):
    from vafusion.predict.api import predict

    df = predict(clips_dir / "d18.mp4", out=tmp_path / "out", model=audio_checkpoint)
    assert len(df) == CLIP_FRAMES["d18.mp4"]
    ok = df["face_valid"] == 1
    assert ok.mean() > 0.9  # audio model: valid where there is audio
    assert df.loc[ok, "valence"].between(-1, 1).all()
    assert (tmp_path / "out" / "d18.html").exists()


def test_bad_checkpoint_is_one_line_error(tmp_path, clips_dir):
    from vafusion.errors import ModelError
    from vafusion.predict.api import load_model

    bad = tmp_path / "best.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="best.pt"):
        load_model(bad)
