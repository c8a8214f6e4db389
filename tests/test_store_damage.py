"""Damaged store entries are not "complete": resume redoes them, ``store info`` lists them,
``store info --rebuild`` works when ``manifest.json`` itself is corrupt or gone.

Each damage is what a user or a full disk really does to an entry folder: a deleted,
truncated or reshaped ``.npy`` file, a corrupt ``entry.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_bad_inputs import assert_no_traceback, assert_one_error, run_cli

DAMAGE = {
    "deleted": ("frame.npy", "frame.npy is missing"),
    "truncated": ("values.npy", "values.npy is truncated"),
    "reshaped": ("values.npy", "values.npy has shape (5, 168)"),
    "bad_entry_json": ("entry.json", "corrupt entry.json"),
}


def _entry_dir(store: Path, video: str) -> Path:
    (d,) = list((store / "data" / video / "audio").iterdir())
    return d


def _damage(entry: Path, kind: str) -> None:
    name = DAMAGE[kind][0]
    f = entry / name
    if kind == "deleted":
        f.unlink()
    elif kind == "truncated":
        f.write_bytes(f.read_bytes()[:-1000])
    elif kind == "reshaped":
        np.save(f, np.zeros((5, 168), np.float32))
    else:
        f.write_text('{"video": "x", "feature_set": ')


@pytest.fixture(scope="module")
def damaged_store(tmp_path_factory, clips_dir):
    """A store of 5 copies of a clip; 4 of the entries then damaged, one kind each."""
    root = tmp_path_factory.mktemp("damage")
    videos = root / "videos"
    videos.mkdir()
    for name in [*DAMAGE, "intact"]:
        shutil.copyfile(clips_dir / "d0.mp4", videos / f"{name}.mp4")
    store = root / "store"
    p = run_cli("extract", videos, "--out", store, "--features", "audio")
    assert p.returncode == 0, p.stderr[-2000:]
    before = {k: _entry_dir(store, k) for k in DAMAGE}
    for kind, entry in before.items():
        _damage(entry, kind)
    return videos, store


def test_store_info_lists_damaged_entries(damaged_store):
    _, store = damaged_store
    p = run_cli("store", "info", store, "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    damaged = json.loads(p.stdout)["damaged"]
    assert sorted(k.split("/")[0] for k in damaged) == sorted(DAMAGE)
    for key, problem in damaged.items():
        assert DAMAGE[key.split("/")[0]][1] in problem, (key, problem)
    p = run_cli("store", "info", store)
    assert "4 damaged entries" in p.stdout and "values.npy is truncated" in p.stdout


def test_resume_redoes_damaged_entries(damaged_store, tmp_path):
    from vafusion.store import FeatureStore

    videos, store = damaged_store
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    p = run_cli("extract", videos, "--out", copy, "--features", "audio", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads(p.stdout)
    assert sorted(report["done"]) == sorted(DAMAGE) and report["skipped"] == ["intact"]
    assert "damaged store entry" in p.stderr
    fs = FeatureStore(copy)
    assert fs.damaged() == {}
    for name in [*DAMAGE, "intact"]:
        assert fs.get(name, "audio").values.shape == (78, 168)
    p = run_cli("export", copy, "--video", "truncated", "--out", tmp_path / "t.csv")
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.mark.parametrize("manifest", ["corrupt", "gone", "foreign"])
def test_rebuild_without_a_readable_manifest(damaged_store, tmp_path, manifest):
    _, store = damaged_store
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    m = copy / "manifest.json"
    if manifest == "corrupt":
        m.write_text('{"format": "vafusion-feature-store", "entries": {')
    elif manifest == "gone":
        m.unlink()
    else:
        m.write_text("[1, 2, 3]")
    p = run_cli("store", "info", copy)
    assert_one_error(p, str(copy), "--rebuild")
    p = run_cli("store", "info", copy, "--rebuild", "--json")
    assert_no_traceback(p)
    assert p.returncode == 0, p.stderr[-2000:]
    info = json.loads(p.stdout)
    # bad_entry_json cannot be indexed (its entry.json is unreadable), but it is listed
    assert info["n_videos"] == 4 and "bad_entry_json" in {k.split("/")[0] for k in info["damaged"]}
    assert json.loads(m.read_text())["format"] == "vafusion-feature-store"
    p = run_cli("store", "info", copy)
    assert p.returncode == 0, p.stderr[-2000:]


def test_rebuild_of_a_folder_that_is_no_store(tmp_path):
    p = run_cli("store", "info", tmp_path, "--rebuild")
    assert_one_error(p, str(tmp_path), "not a feature store")
