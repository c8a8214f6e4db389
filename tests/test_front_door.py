"""The package's front door, batch results, provenance keys and the Dask main-guard check."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tests.conftest import CLIP_FRAMES

import vafusion
from vafusion.errors import ConfigError
from vafusion.extraction import Pipeline, PipelineConfig
from vafusion.faces.tracker import TrackerConfig


def test_import_is_light_and_names_resolve():
    code = (
        "import sys, vafusion; "
        "heavy = [m for m in ('torch', 'av', 'cv2', 'mediapipe', 'onnxruntime', 'pandas') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(vafusion.predict) and callable(vafusion.extract)
    assert vafusion.Pipeline is Pipeline and callable(vafusion.probe)
    from vafusion.predict import api

    # the package and the function are one name, whichever was imported first
    assert callable(vafusion.predict) and vafusion.predict.predict is api.predict


def test_process_files_keeps_good_results_and_lists_errors(clips_dir, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01 not a video" * 64)
    good, silent = clips_dir / "d20.mp4", clips_dir / "d0.mp4"
    out = vafusion.process_files([good, broken, silent], "audio")
    assert list(out) == [str(good), str(silent)] and not out.ok
    assert list(out.errors) == [str(broken)] and "broken.mp4" in out.errors[str(broken)]
    df = out[str(good)]
    assert len(df) == CLIP_FRAMES["d20.mp4"] and df.index.name == "time"
    assert df.index.is_monotonic_increasing and df["audio_valid"].all()
    quiet = out[str(silent)]  # no audio stream: NaN rows, never zeros or dropped rows
    assert len(quiet) == CLIP_FRAMES["d0.mp4"] and not quiet["audio_valid"].any()
    assert np.isnan(quiet.filter(like="audio_mfcc").to_numpy()).all()


def test_keys_cover_decoder_and_tracker_not_the_version(monkeypatch):
    sets = ("audio", "facepose", "expression")

    def keys(**kw):
        with Pipeline(PipelineConfig.of(sets, **kw)) as pipe:
            return pipe.keys()

    base = keys()
    capped = keys(max_side=960)
    tracked = keys(faces=TrackerConfig(detect_every=10))
    for other in (capped, tracked):
        assert other["audio"] == base["audio"]  # audio sees no frame, no face
        assert other["facepose"] != base["facepose"]
        assert other["expression"] != base["expression"]
    monkeypatch.setattr(vafusion, "__version__", "99.0")
    assert keys() == base


def test_pipeline_config_round_trip_and_errors():
    cfg = PipelineConfig.of("audio,facepose", max_side=640)
    assert PipelineConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown feature set"):
        PipelineConfig.of("audio,nope")
    with pytest.raises(ConfigError, match="unknown key"):
        PipelineConfig.from_dict({**cfg.to_dict(), "speed": 1})


def test_unguarded_script_with_workers_fails_with_one_line(tmp_path, clips_dir):
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import vafusion
            vafusion.extract([{str(clips_dir / "d20.mp4")!r}], {str(tmp_path / "s")!r}, workers=2)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert out.returncode != 0
    assert "ConfigError" in out.stderr and "__main__" in out.stderr
    assert "Nanny" not in out.stderr and not (tmp_path / "s").exists()
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "from vafusion.extraction.guard import check_main_guard\n"
        "if __name__ == '__main__':\n    check_main_guard()\n    print('ok')\n"
    )
    out = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok"


def test_process_file_face_set_has_nan_rows_where_no_face(clips_dir):
    df = vafusion.process_file(clips_dir / "face_noface.mov", "expression")
    assert len(df) == CLIP_FRAMES["face_noface.mov"] and df.index.name == "time"
    seen = df["face_valid"].to_numpy() == 1
    assert 0 < seen.sum() < len(df)  # the face leaves the picture
    emo = df.filter(like="emo_").to_numpy()
    assert np.isnan(emo[~seen]).all() and np.isfinite(emo[seen]).all()
    np.testing.assert_allclose(emo[seen].sum(1), 1.0, atol=1e-4)
