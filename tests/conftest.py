"""Shared fixtures: the real clips in tests/data (read-only: copy before writing).

The suite runs from the repository alone: every real file a test needs is under tests/data
(sources and licences in NOTICE). A missing file is a failure, never a skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CLIPS = DATA / "clips"
OPENFACE_CSV = DATA / "openface" / "OpenFace_Test.csv"
AFFWILD2_SPLITS = DATA / "affwild2" / "va_splits_abaw3.csv"
SAMPLE = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"

#: decoded frame counts of the test clips (checked with PyAV's decoder)
CLIP_FRAMES = {
    "WolfgangLanger_Pexels.mp4": 472,
    "d0.mp4": 78,
    "d13.mp4": 352,
    "d18.mp4": 216,
    "d20.mp4": 175,
    "face_noface.mov": 169,
    "no_face.mp4": 95,
    "single_face.mp4": 72,
}


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """Folder of the real test clips (read-only)."""
    missing = [n for n in CLIP_FRAMES if not (CLIPS / n).is_file()]
    assert not missing, f"test clips missing from {CLIPS}: {missing}"
    return CLIPS


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    """The bundled sample clip (WolfgangLanger_Pexels.mp4, 472 frames, 23.976 fps)."""
    return SAMPLE


@pytest.fixture(scope="module")
def default_model():
    """The built-in default model, loaded once per test module (closed after it)."""
    from vafusion.predict.default_model import DefaultModel

    m = DefaultModel()
    yield m
    m.close()


@pytest.fixture
def clip_copy(tmp_path, clips_dir):
    """Return a function copying a test clip into tmp_path (for tests that modify it)."""

    def _copy(name: str, dest_name: str | None = None) -> Path:
        dest = tmp_path / (dest_name or name)
        shutil.copyfile(clips_dir / name, dest)
        dest.chmod(0o644)
        return dest

    return _copy
