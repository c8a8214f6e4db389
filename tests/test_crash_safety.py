"""Crash safety and determinism, through the real CLI.

- ``vafusion train`` killed with SIGKILL part way, then ``--resume``: the same weights and
  the same per-epoch log as an uninterrupted run.
- ``vafusion predict`` and ``vafusion extract`` killed (SIGKILL) or failing (an exception)
  *inside* an atomic write, between writing the temporary and renaming it
  (tests/fault_runner.py): every final file present is complete, a failed rename removes
  its temporary, and a rerun gives the same results as an uninterrupted run and removes
  the dead run's temporary. Temporary
  names are matched by tests/tempfiles.py, itself checked against temporaries the code makes.
- Same inputs + config + seed: byte-identical features (extract twice) and identical CPU
  training results.

(SIGKILL of ``vafusion extract`` + rerun is covered by tests/test_extract_runs.py.)
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import fault_runner
from tempfiles import is_temporary, leftover_temporaries
from train_helpers import write_synthetic_affwild2

PY = sys.executable
DIMS = {"audio": 16, "expression": 12, "facepose": 20}


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _cmd(*args):
    return [PY, "-m", "vafusion", *map(str, args)]


def _run(*args, timeout=600):
    p = subprocess.run(_cmd(*args), capture_output=True, text=True, env=_env(), timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def _kill_when(args, ready, timeout=300):
    """Start the command, SIGKILL it as soon as ``ready()``; return True if it was running."""
    proc = subprocess.Popen(
        _cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env()
    )
    t0 = time.monotonic()
    try:
        while not ready():
            if proc.poll() is not None or time.monotonic() - t0 > timeout:
                break
            time.sleep(0.05)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    return running


def _epochs_logged(run: Path) -> int:
    try:
        with open(run / "log.csv", newline="") as fh:
            return len(list(csv.DictReader(fh)))
    except (FileNotFoundError, csv.Error):
        return 0


def _log(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    drop = ("epoch_seconds", "load_share")  # wall-clock columns
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model_state"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_affwild2(root / "aff", root / "store", DIMS, n_train=8, n_val=2,
                             frames=(300, 400))  # fmt: skip
    (root / "cfg.yaml").write_text(
        "model: {name: fusion-gru}\nlr: 0.001\nnum_threads: 1\npatience: 0\nprogress: false\n"
    )
    return root


EPOCHS = 6


def _train_args(synth, out, *extra):
    return ("train", "--data", synth / "aff", "--features", synth / "store", "--out", out,
            "--config", synth / "cfg.yaml", "--epochs", EPOCHS, "--batch-size", 16,
            "--seed", 3, *extra)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "a"
    _run(*_train_args(synth, out))
    return out


def test_same_seed_same_training_result(synth, uninterrupted, tmp_path):
    out = tmp_path / "b"
    _run(*_train_args(synth, out))
    a, b = _state(uninterrupted / "last.pt"), _state(out / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _log(uninterrupted) == _log(out)
    ra = json.loads((uninterrupted / "result.json").read_text())
    rb = json.loads((out / "result.json").read_text())
    assert ra["best_epoch"] == rb["best_epoch"]


def test_sigkill_train_then_resume_equals_uninterrupted(synth, uninterrupted, tmp_path):
    out = tmp_path / "killed"
    args = _train_args(synth, out)
    assert _kill_when(args, lambda: _epochs_logged(out) >= 2), "training ended before the kill"
    done = _epochs_logged(out)
    assert 2 <= done < EPOCHS
    # what the kill left behind is readable (atomic checkpoint), no stray temp files count
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] + 1 >= done
    p = _run(*args, "--resume")
    assert "Traceback" not in p.stderr
    a, b = _state(uninterrupted / "last.pt"), _state(out / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"
    assert _log(uninterrupted) == _log(out)
    assert not leftover_temporaries(out)


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------- faults inside the atomic writes themselves
PRED_CLIPS = {"single_face": 72, "d18": 216}
#: what predict writes for the two clips: per video, then for the batch
PRED_FILES = [f"{s}.{e}" for s in PRED_CLIPS for e in ("csv", "png", "html", "json")] + [
    "summary.csv",
    "index.html",
]


def _faulty(mode: str, nth: int, log: Path, *args, timeout=300) -> subprocess.CompletedProcess:
    """Run the CLI with a kill/raise at the ``nth`` temporary's rename (tests/fault_runner.py)."""
    return fault_runner.run(mode, nth, log, *args, capture_output=True, text=True, env=_env(),
                            timeout=timeout)  # fmt: skip


def _publishes(log: Path) -> list[tuple[str, str]]:
    """(temporary, final) of every rename the run made, in order (all its processes)."""
    return [tuple(ln.split("\t")[1:3]) for ln in log.read_text().splitlines()]


def test_is_temporary_matches_the_temporaries_the_code_writes(tmp_path):
    """The helper every "nothing left behind" check uses matches real temporaries."""
    from vafusion.fileio import atomic_path
    from vafusion.store._atomic import tmp_name

    for final in ("x.csv", "single_face.png", "last.pt", "log", "a.b.json"):
        with atomic_path(tmp_path / final) as tmp:  # the temporary exists inside the block
            tmp.write_text("partial")
            assert is_temporary(tmp.name), tmp.name
            assert leftover_temporaries(tmp_path) == [tmp]
        assert not leftover_temporaries(tmp_path)
    entry = tmp_path / "data" / "v" / "audio" / tmp_name("e1067f8193-v0.1.0")
    entry.mkdir(parents=True)
    (entry / "values.npy").write_bytes(b"x")
    (tmp_path / tmp_name("manifest.json")).write_text("{}")
    assert len(leftover_temporaries(tmp_path)) == 2
    # final names (also hidden ones like the store lock) are not temporaries
    for name in ("x.csv", "single_face.png", ".lock", "manifest.json", "e1067f8193-v0.1.0"):
        assert not is_temporary(name), name


def test_dead_writers_temporaries_are_removed_live_ones_kept(tmp_path):
    """What a killed run left between write and rename goes on the next run; a temporary
    of a live writer (another run writing into the same folder) stays."""
    from vafusion.fileio import remove_dead_temporaries
    from vafusion.store._atomic import tmp_name

    proc = subprocess.Popen([PY, "-c", "pass"])
    proc.wait()  # a pid that is dead (and reaped)
    dead = tmp_path / (tmp_name("x.csv").replace(f"-{os.getpid()}-", f"-{proc.pid}-") + ".csv")
    live = tmp_path / (tmp_name("y.csv") + ".csv")
    for p in (dead, live):
        p.write_text("partial")
    (tmp_path / "x.csv").write_text("final")
    assert remove_dead_temporaries(tmp_path) == 1
    assert leftover_temporaries(tmp_path) == [live] and (tmp_path / "x.csv").exists()


@pytest.fixture(scope="module")
def predicted_ref(clips_dir, tmp_path_factory):
    """An uninterrupted ``predict`` of two clips and the renames it made, in order."""
    root = tmp_path_factory.mktemp("pred_ref")
    args = ("predict", *(clips_dir / f"{s}.mp4" for s in PRED_CLIPS), "--out", root / "out")
    p = _faulty("count", 0, root / "log.txt", *args, "-j", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    assert (root / "log.txt").exists(), "predict published no file through a temporary"
    return root / "out", _publishes(root / "log.txt"), args


def _same_outputs(out: Path, ref: Path) -> None:
    names = sorted(f.name for f in ref.iterdir())
    assert names == sorted(PRED_FILES), names
    for name in names:
        a, b = (ref / name).read_bytes(), (out / name).read_bytes()
        if name.endswith(".json"):  # wall-clock timings differ from run to run
            a, b = (json.loads(x) for x in (a, b))
            a.pop("processing"), b.pop("processing")
        if not name.endswith(".html"):  # the report quotes the timings too
            assert a == b, name


# inside the first video's png; the second video's png (first one complete); summary.csv
@pytest.mark.parametrize("nth", [2, 6, 9])
def test_sigkill_inside_a_predict_write_then_rerun_equals_uninterrupted(
    predicted_ref, tmp_path, nth
):
    ref, renames, args = predicted_ref
    assert [Path(final).name for _, final in renames] == PRED_FILES, renames
    out = tmp_path / "out"
    args = (*args[:-1], out)
    p = _faulty("kill", nth, tmp_path / "log.txt", *args, "-j", "1")
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    # killed between write and rename: the written temporary is there, its final name not
    tmp, final = _publishes(tmp_path / "log.txt")[-1]
    assert leftover_temporaries(out) == [Path(tmp)] and not Path(final).exists()
    expected_name = Path(renames[nth - 1][1]).name
    assert Path(final).name == expected_name
    for f in out.iterdir():  # every final file present is complete
        if is_temporary(f.name):
            continue
        stem, ext = f.name.rsplit(".", 1)
        if f.name == "summary.csv":
            assert [Path(r["video"]).stem for r in _read_rows(f)] == list(PRED_CLIPS)
        elif ext == "csv":
            rows = _read_rows(f)
            n = PRED_CLIPS[stem]
            assert len(rows) == n and rows[-1]["frame"] == str(n - 1)
        elif ext == "json":
            assert json.loads(f.read_text())["n_frames"] == PRED_CLIPS[stem]
        elif ext == "html":
            assert f.read_text().rstrip().endswith("</html>")
        else:
            assert f.read_bytes().endswith(b"IEND\xaeB`\x82")
    _run(*args, "-j", "1")  # the rerun completes everything with the same numbers
    _same_outputs(out, ref)
    assert not leftover_temporaries(out)  # the dead run's temporary removed too


def test_failed_rename_in_predict_cleans_its_temporary(predicted_ref, tmp_path):
    """An exception between write and rename (disk full): the temporary is removed, that
    video fails with one error line, the other video is written."""
    _, renames, args = predicted_ref
    out = tmp_path / "out"
    p = _faulty("raise", 2, tmp_path / "log.txt", *args[:-1], out, "-j", "1")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "single_face" in errors[0] and "injected" in errors[0], errors
    assert not leftover_temporaries(out)
    assert {f"d18.{e}" for e in ("csv", "html", "json", "png")} <= {f.name for f in out.iterdir()}


@pytest.fixture(scope="module")
def extracted_ref(clips_dir, tmp_path_factory):
    """An uninterrupted ``extract`` (audio) of two clips and the renames it made."""
    root = tmp_path_factory.mktemp("extract_ref")
    args = ("extract", clips_dir / "single_face.mp4", clips_dir / "d18.mp4", "--features", "audio")
    p = _faulty("count", 0, root / "log.txt", *args, "--out", root / "store")
    assert p.returncode == 0, p.stderr[-3000:]
    assert (root / "log.txt").exists(), "extract published nothing through a temporary"
    return root / "store", _publishes(root / "log.txt"), args


def _npy_bytes(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in (store / "data").rglob("*.npy")}


def _nth_publish(renames: list[tuple[str, str]], video: str, what: str) -> int:
    """1-based index of the rename publishing ``video``'s entry folder or the manifest after it."""
    i = next(i for i, (t, _) in enumerate(renames) if f"/data/{video}/" in t)
    if what == "manifest":
        i = next(j for j in range(i + 1, len(renames)) if renames[j][1].endswith("manifest.json"))
    return i + 1


@pytest.mark.parametrize("what", ["entry", "manifest"])
def test_sigkill_inside_a_store_write_then_rerun_equals_uninterrupted(
    extracted_ref, tmp_path, what
):
    ref, renames, args = extracted_ref
    nth = _nth_publish(renames, "d18", what)
    store = tmp_path / "store"
    p = _faulty("kill", nth, tmp_path / "log.txt", *args, "--out", store)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    tmp, final = _publishes(tmp_path / "log.txt")[-1]
    assert leftover_temporaries(store) == [Path(tmp)], "killed between write and rename"
    if what == "entry":  # a complete entry folder, written but never published
        assert Path(tmp).is_dir() and (Path(tmp) / "entry.json").is_file()
        assert not Path(final).exists()
    _run(*args, "--out", store)  # the rerun: cleans up, completes, same bytes
    assert not leftover_temporaries(store)
    assert _npy_bytes(store) == _npy_bytes(ref)


def test_store_cleanup_treats_an_unreaped_writer_as_dead(tmp_path):
    """A worker killed with its parent is a zombie until init reaps it: its temporaries go."""
    from vafusion.store import FeatureStore
    from vafusion.store._atomic import tmp_name

    proc = subprocess.Popen([PY, "-c", "pass"])
    try:
        stat = Path(f"/proc/{proc.pid}/stat")
        t0 = time.monotonic()
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() - t0 < 30
            time.sleep(0.05)
        store = FeatureStore(tmp_path / "s")
        (store.root / "data").mkdir(exist_ok=True)
        name = tmp_name("manifest.json").replace(f"-{os.getpid()}-", f"-{proc.pid}-")
        (store.root / name).write_text("{}")
        mine = store.root / tmp_name("manifest.json")  # a live writer's: kept
        mine.write_text("{}")
        assert store.cleanup() == 1 and leftover_temporaries(store.root) == [mine]
    finally:
        proc.wait()


def test_failed_rename_in_the_store_cleans_its_temporary(extracted_ref, tmp_path):
    ref, renames, args = extracted_ref
    store = tmp_path / "store"
    p = _faulty("raise", _nth_publish(renames, "d18", "entry"), tmp_path / "log.txt", *args,
                "--out", store)  # fmt: skip
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert not leftover_temporaries(store)
    report = _npy_bytes(store)
    assert report and all(k.startswith("data/single_face/") for k in report)
    _run(*args, "--out", store)
    assert _npy_bytes(store) == _npy_bytes(ref)


def test_same_inputs_same_features_bytes(tmp_path, clips_dir):
    """Extract audio+facepose+expression twice into two stores: identical arrays, bytewise."""
    video = clips_dir / "single_face.mp4"
    stores = [tmp_path / "s1", tmp_path / "s2"]
    for s in stores:
        _run("extract", video, "--out", s, "--features", "audio,facepose,expression")
    files = [sorted(p.relative_to(s) for p in s.rglob("*.npy")) for s in stores]
    assert files[0] == files[1] and len(files[0]) >= 12
    for rel in files[0]:
        assert (stores[0] / rel).read_bytes() == (stores[1] / rel).read_bytes(), rel
