"""Extraction runs on real clips: Dask LocalCluster vs in-process, bad files, SIGKILL + resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vafusion.datasets.inputs import find_inputs
from vafusion.extraction import extract
from vafusion.features.audio import AudioConfig
from vafusion.store import FeatureStore

GOOD = {"single_face.mp4": 72, "d0.mp4": 78, "no_face.mp4": 95, "d20.mp4": 175}
BAD = ("empty.mp4", "truncated.mp4")


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vafusion", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory, clips_dir) -> Path:
    """The test clips (a few short ones), a zero-byte file and a half-length copy."""
    folder = tmp_path_factory.mktemp("videos")
    sub = folder / "nested"
    sub.mkdir()
    for i, name in enumerate(GOOD):
        shutil.copyfile(clips_dir / name, (sub if i % 2 else folder) / name)
    (folder / "empty.mp4").write_bytes(b"")
    data = (clips_dir / "d18.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clip_folder) -> FeatureStore:
    """Single-process, uninterrupted extraction."""
    out = tmp_path_factory.mktemp("ref") / "store"
    report = extract([clip_folder], out, features=("audio",), workers=1)
    assert sorted(report.done) == sorted(Path(n).stem for n in GOOD)
    assert set(report.failed) == {"empty", "truncated"}
    assert report.exit_code == 1
    return FeatureStore(out)


def _assert_same_store(store: FeatureStore, ref: FeatureStore, exact: bool = True) -> None:
    assert store.videos() == ref.videos()
    for video in ref.videos():
        a, b = store.get(video, "audio"), ref.get(video, "audio")
        if exact:
            np.testing.assert_array_equal(a.values, b.values)  # NaN rows compare equal
        else:
            # Dask workers run BLAS single-threaded, this process multi-threaded: the mel
            # projection's summation order differs in the last float32 bits (~1e-6 relative)
            np.testing.assert_allclose(a.values, b.values, rtol=2e-5, atol=1e-4)
        np.testing.assert_array_equal(a.valid, b.valid)
        np.testing.assert_array_equal(a.timestamp, b.timestamp)
        assert a.columns == b.columns


def test_find_inputs(clip_folder):
    names = sorted(p.name for p in find_inputs([clip_folder]))
    assert names == sorted(list(GOOD) + list(BAD))


def test_reference_contents(reference):
    for name, n in GOOD.items():
        t = reference.get(Path(name).stem, "audio")
        assert t.values.shape == (n, 168)
    assert not reference.get("d0", "audio").valid.any()  # no audio stream: all invalid
    assert reference.video_info("d20")["n_frames"] == 175
    failures = reference.failures()
    assert "empty file" in failures["empty"]
    assert failures["truncated"].startswith("MediaError")


def test_two_dask_workers_equal_single_process_and_exit_1(tmp_path, clip_folder, reference):
    out = tmp_path / "store"
    res = _cli("extract", str(clip_folder), "--out", str(out), "--workers", "2")
    assert res.returncode == 1, res.stderr
    assert "LocalCluster(2)" in res.stdout
    # a warning raised on a Dask worker reaches the user once, as our own log line
    assert res.stderr.count("d0.mp4: no audio stream") == 1, res.stderr
    assert "WARNING: " in res.stderr.split("d0.mp4: no audio stream")[0].splitlines()[-1]
    assert "FAILED  empty:" in res.stdout and "FAILED  truncated:" in res.stdout
    store = FeatureStore(out)
    _assert_same_store(store, reference, exact=False)
    assert set(store.failures()) == {"empty", "truncated"}
    # the same command again skips everything complete, retries only the failures
    res2 = _cli("extract", str(clip_folder), "--out", str(out), "--json")
    rep = json.loads(res2.stdout)
    assert res2.returncode == 1 and sorted(rep["skipped"]) == sorted(store.videos())
    assert rep["done"] == [] and set(rep["failed"]) == {"empty", "truncated"}


def test_good_folder_exit_0_and_config_change_new_entries(tmp_path, clip_copy):
    clip_copy("single_face.mp4")
    (tmp_path / "out").mkdir()
    res = _cli("extract", str(tmp_path / "single_face.mp4"), "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    store = FeatureStore(tmp_path / "s")
    before = store.entries()
    report = extract(
        [tmp_path / "single_face.mp4"],
        tmp_path / "s",
        configs={"audio": AudioConfig(n_mfcc=20)},
    )
    assert report.done == ["single_face"]
    entries = store.entries("single_face")
    assert len(entries) == 2 and before[0] in entries
    dims = sorted(e.dim for e in entries)
    assert dims == [148, 168]
    assert {json.dumps(store.entry_meta("single_face", "audio", e.extractor_hash)["config"]
                       ["n_mfcc"]) for e in entries} == {"20", "40"}  # fmt: skip


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, clip_folder, reference):
    out = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vafusion", "extract", str(clip_folder), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed_with = None
    seen_partial = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "manifest.json").exists():
                store = FeatureStore(out)
                # every visible entry must be complete and readable at every moment
                for e in store.entries():
                    t = store.get(e.video, e.feature_set)
                    if t.values.shape != (GOOD[e.video + ".mp4"], 168):
                        seen_partial.append(e)
                if len(store.entries()) >= 1:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_with = len(store.entries())
                    break
            time.sleep(0.01)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not seen_partial
    assert killed_with is not None and proc.returncode == -signal.SIGKILL
    store = FeatureStore(out)
    assert 1 <= len(store.videos()) < len(GOOD)  # killed part way
    for e in store.entries():
        assert store.get(e.video, "audio").values.shape[0] == e.n_rows
    res = _cli("extract", str(clip_folder), "--out", str(out))
    assert res.returncode == 1  # the two bad files still fail
    _assert_same_store(FeatureStore(out), reference)
    assert not list((out / "data").rglob(".tmp-*"))
