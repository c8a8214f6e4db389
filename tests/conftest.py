"""Shared fixtures: the real clips in ../shared/data (read-only: copy before writing)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAFUSION_SHARED", REPO.parent / "shared")) / "data"
CLIPS = SHARED / "clips"
SAMPLE = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"

#: decoded frame counts of the shared clips (checked with PyAV's decoder)
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
    """Folder of the shared real clips (read-only)."""
    if not CLIPS.is_dir():
        pytest.skip(f"shared clips not found at {CLIPS}")
    return CLIPS


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    """The bundled sample clip (WolfgangLanger_Pexels.mp4, 472 frames, 23.976 fps)."""
    return SAMPLE


@pytest.fixture
def clip_copy(tmp_path, clips_dir):
    """Return a function copying a shared clip into tmp_path (for tests that modify it)."""

    def _copy(name: str, dest_name: str | None = None) -> Path:
        dest = tmp_path / (dest_name or name)
        shutil.copyfile(clips_dir / name, dest)
        dest.chmod(0o644)
        return dest

    return _copy
