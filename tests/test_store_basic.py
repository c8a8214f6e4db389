"""FeatureStore contracts: round trip, keys, memmap/window reads, failures, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from vafusion.errors import StoreError
from vafusion.features.base import FeatureTable
from vafusion.store import FeatureStore
from vafusion.store.feature_store import KEY_VERSION


def _table(n=50, d=7, name="audio", seed=0, face=False) -> FeatureTable:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, d)).astype(np.float32)
    valid = rng.random(n) > 0.2
    values[~valid] = np.nan
    return FeatureTable(
        name=name,
        frame=np.arange(n) // (2 if face else 1),
        timestamp=np.arange(n) / 25.0,
        values=values,
        columns=[f"{name}_{i}" for i in range(d)],
        valid=valid,
        face_id=(np.arange(n) % 2) if face else None,
        meta={"config": {"x": 1}, "tracks": [{"id": np.int64(0), "frames": 3}]}
        | ({"valid_column": "face_valid"} if face else {}),
    )


def _same(a: FeatureTable, b: FeatureTable) -> None:
    assert a.name == b.name and a.columns == b.columns
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.timestamp, b.timestamp)
    np.testing.assert_array_equal(a.valid, b.valid)
    if a.face_id is None:
        assert b.face_id is None
    else:
        np.testing.assert_array_equal(a.face_id, b.face_id)


def test_round_trip_and_keys(tmp_path):
    store = FeatureStore(tmp_path / "s")
    t = _table()
    e = store.put("clip", t, extractor_hash="abc123", video_info={"n_frames": 50, "fps": 25.0})
    assert e.n_rows == 50 and e.dim == 7 and e.version == KEY_VERSION
    assert store.has("clip", "audio") and store.has("clip", "audio", "abc123")
    assert not store.has("clip", "audio", "other") and not store.has("clip", "facepose")
    _same(t, store.get("clip", "audio"))
    _same(t, store.get("clip", "audio", "abc123", mmap=True))
    assert store.get("clip", "audio").meta["tracks"][0]["id"] == 0
    assert store.entry_meta("clip", "audio")["config"] == {"x": 1}
    assert store.video_info("clip")["n_frames"] == 50
    assert store.videos() == ["clip"]
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["store_version"] == 1 and manifest["format"] == "vafusion-feature-store"
    assert "entries" not in manifest  # the entry folders are the only index
    assert [e.key for e in store.entries()] == [f"abc123-v{KEY_VERSION}"]


def test_long_form_face_table(tmp_path):
    store = FeatureStore(tmp_path)
    t = _table(name="facepose", face=True)
    store.put("clip", t, extractor_hash="f1")
    back = store.get("clip", "facepose")
    _same(t, back)
    assert back.valid_column == "face_valid"
    assert store.entries()[0].long_form


def test_config_change_creates_new_entry_never_mixes(tmp_path):
    store = FeatureStore(tmp_path)
    a, b = _table(seed=1), _table(seed=2)
    store.put("clip", a, extractor_hash="hashA")
    store.put("clip", b, extractor_hash="hashB")
    assert len(store.entries("clip")) == 2
    _same(a, store.get("clip", "audio", "hashA"))
    _same(b, store.get("clip", "audio", "hashB"))
    with pytest.raises(StoreError, match="pass extractor_hash"):
        store.get("clip", "audio")
    assert store.hashes("audio") == {f"hashA-v{KEY_VERSION}": 1, f"hashB-v{KEY_VERSION}": 1}


def test_window_reads_are_memmapped(tmp_path):
    store = FeatureStore(tmp_path)
    t = _table(n=1000, d=168)
    store.put("v", t, extractor_hash="h")
    mm = store.get_array("v", "audio")
    assert isinstance(mm, np.memmap) and mm.shape == (1000, 168) and not mm.flags.writeable
    np.testing.assert_array_equal(store.read_rows("v", "audio", 100, 115), t.values[100:115])
    np.testing.assert_array_equal(store.get_array("v", "audio", array="valid"), t.valid)


def test_overwrite_replaces_and_failures(tmp_path):
    store = FeatureStore(tmp_path)
    store.put("v", _table(seed=1), extractor_hash="h")
    new = _table(seed=5)
    store.put("v", new, extractor_hash="h")
    _same(new, store.get("v", "audio"))
    store.record_failure("bad", "MediaError: bad.mp4: empty file\n(0 bytes)")
    assert store.failures() == {"bad": "MediaError: bad.mp4: empty file (0 bytes)"}
    info = store.info()
    assert info["n_videos"] == 1 and info["failures"]["bad"].startswith("MediaError")
    assert info["feature_sets"]["audio"]["dim"] == 7
    store.clear_failure("bad")
    assert store.failures() == {}
    assert not [p for p in (tmp_path / "data").rglob(".*")]  # no tmp/trash left
    assert store.remove("v") == 1 and not store.has("v", "audio")


def test_invalid_names_and_missing(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(StoreError):
        store.put("../evil", _table(), extractor_hash="h")
    with pytest.raises(StoreError, match="no 'audio' features"):
        store.get("nothing", "audio")
    with pytest.raises(StoreError, match="not a feature store"):
        FeatureStore(tmp_path / "nope", create=False)


def test_newer_store_version_is_refused(tmp_path):
    FeatureStore(tmp_path)
    m = tmp_path / "manifest.json"
    data = json.loads(m.read_text())
    data["store_version"] = 99
    m.write_text(json.dumps(data))
    with pytest.raises(StoreError, match="newer"):
        FeatureStore(tmp_path)


def test_corrupt_array_is_detected(tmp_path):
    store = FeatureStore(tmp_path)
    e = store.put("v", _table(n=200, d=16), extractor_hash="h")
    values = os.path.join(e.path, "values.npy")
    with open(values, "r+b") as fh:
        fh.truncate(os.path.getsize(values) // 2)
    with pytest.raises(StoreError):
        store.get("v", "audio")


def test_leftover_temporary_folder_is_invisible_and_cleaned(tmp_path):
    store = FeatureStore(tmp_path)
    store.put("v", _table(), extractor_hash="h")
    # what a writer killed before its rename leaves behind (pid 999999: not running)
    tmp = tmp_path / "data" / "w" / "audio" / ".tmp-h-v0-host-999999-deadbeef"
    tmp.mkdir(parents=True)
    (tmp / "values.npy").write_bytes(b"\x93NUMPY garbage")
    assert not store.has("w", "audio") and store.videos() == ["v"]
    assert store.cleanup(max_age_s=0) >= 1 and not tmp.exists()


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from vafusion.features.base import FeatureTable
    from vafusion.store import FeatureStore
    store = FeatureStore(sys.argv[1])
    n, d = int(sys.argv[2]), 1024
    t = FeatureTable("expression", np.arange(n), np.arange(n) / 25.0,
                     np.ones((n, d), np.float32), [f"e{i}" for i in range(d)], np.ones(n, bool))
    print("ready", flush=True)
    for i in range(1000):
        store.put(f"v{i % 3}", t, extractor_hash="h")
        print("put", i, flush=True)
    """
)


def _check_all_visible_entries_complete(store: FeatureStore) -> int:
    n = 0
    for e in store.entries():
        t = store.get(e.video, e.feature_set, e.extractor_hash)
        assert t.values.shape == (e.n_rows, 1024) and np.all(t.values == 1.0)
        n += 1
    return n


def test_sigkill_during_puts_never_exposes_partial_entry(tmp_path):
    root = tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), "20000"],  # 80 MB per entry
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.stdout.readline()  # first put done
        time.sleep(0.15)  # now most likely in the middle of writing a later one
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    store = FeatureStore(root)
    assert _check_all_visible_entries_complete(store) >= 1
    store.cleanup()  # the writer is dead: its temporary folder is removed
    assert not list((root / "data").rglob(".tmp-*"))


def test_full_disk_leaves_nothing_visible(tmp_path):
    """A write that fails part way (file-size limit = full disk) raises StoreError and
    leaves neither an entry nor a temporary folder."""
    script = textwrap.dedent(
        """
        import resource, signal, sys, numpy as np
        from vafusion.errors import StoreError
        from vafusion.features.base import FeatureTable
        from vafusion.store import FeatureStore
        store = FeatureStore(sys.argv[1])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        n = 5000
        t = FeatureTable("audio", np.arange(n), np.arange(n) / 25.0,
                         np.ones((n, 168), np.float32), [str(i) for i in range(168)],
                         np.ones(n, bool))
        try:
            store.put("v", t, extractor_hash="h")
        except StoreError as exc:
            print("StoreError:", exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert "StoreError" in out.stdout, out.stderr
    store = FeatureStore(tmp_path)
    assert not store.has("v", "audio") and store.entries() == []
    assert not list((tmp_path / "data").rglob(".tmp-*"))
