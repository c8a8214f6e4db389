"""Output paths that cannot be written: one line, before any work, nothing half-written.

``--out`` an existing file, or inside a folder the user cannot write (with permission
bits applying: root's reads and writes ignore them), for ``predict``, ``train``,
``evaluate`` and ``ablate``; ``extract`` into a store the user cannot write (refused
before decoding); ``predict`` on a full disk (a 64 KiB tmpfs, mounted when run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from test_bad_inputs import assert_one_error, run_cli, without_root_override


def as_nobody() -> list[str]:
    """Command prefix running as user nobody (no HOME, site-packages not writable) when the
    tests run as root; ``setpriv`` execs the interpreter before the switch takes effect."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed when the tests run as root"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture(scope="module")
def place(clips_dir):
    """A folder every user can use (outside pytest's root-only temp root): a synthetic
    dataset + store, a trained run, a clip, a plain file and a read-only folder."""
    from train_helpers import write_synthetic_affwild2

    d = Path(tempfile.mkdtemp(prefix="vafusion-outputs-"))
    try:
        d.chmod(0o777)
        write_synthetic_affwild2(
            d / "aff", d / "store", {"audio": 8, "facepose": 6}, n_train=2, n_val=1,
            frames=(60, 80),
        )  # fmt: skip
        p = run_cli("train", "--data", d / "aff", "--features", d / "store", "--out", d / "run",
                    "--model", "audio", "--epochs", "1")  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
        shutil.copyfile(clips_dir / "d0.mp4", d / "clip.mp4")
        shutil.copyfile(clips_dir / "single_face.mp4", d / "speech.mp4")  # has audio
        (d / "a file").write_text("not a folder")
        (d / "read-only").mkdir()
        for f in d.rglob("*"):
            f.chmod(0o777 if f.is_dir() else 0o666)
        (d / "read-only").chmod(0o555)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _command(cmd: str, d: Path, out: Path) -> list:
    if cmd == "predict":
        return ["predict", d / "clip.mp4", "--out", out]
    if cmd == "train":
        return ["train", "--data", d / "aff", "--features", d / "store", "--out", out,
                "--model", "audio", "--epochs", "1"]  # fmt: skip
    if cmd == "ablate":
        return ["ablate", "--data", d / "aff", "--features", d / "store", "--out", out,
                "--epochs", "1"]  # fmt: skip
    return ["evaluate", d / "run", "--data", d / "aff", "--features", d / "store", "--out", out]


@pytest.mark.parametrize("cmd", ["predict", "train", "evaluate", "ablate"])
@pytest.mark.parametrize("where", ["existing_file", "inside_a_file", "read_only_folder"])
def test_out_cannot_be_written(place, cmd, where):
    out = {
        "existing_file": place / "a file",
        "inside_a_file": place / "a file" / "sub",
        "read_only_folder": place / "read-only" / "new",
    }[where]
    prefix = without_root_override() if where == "read_only_folder" else []
    env = {"HOME": str(place), "MPLCONFIGDIR": str(place / ".mpl")}
    p = run_cli(*_command(cmd, place, out), prefix=prefix, env=env, cwd=place)
    words = {"read_only_folder": "not writable"}.get(where, "a file")
    assert_one_error(p, str(out), words)
    assert (place / "a file").read_text() == "not a folder"
    assert not list((place / "read-only").iterdir())


def test_extract_into_an_unwritable_store_fails_before_decoding(place, tmp_path):
    store = place / "store"  # the synthetic store, made read-only for this test
    dirs = [store, *[f for f in store.rglob("*") if f.is_dir()]]
    try:
        for f in dirs:
            f.chmod(0o555)
        p = run_cli("extract", place / "clip.mp4", "--out", store, "--features", "audio",
                    prefix=without_root_override(), cwd=place)  # fmt: skip
    finally:
        for f in dirs:
            f.chmod(0o777)
    assert_one_error(p, str(store), "not writable")
    assert "[1/1]" not in p.stderr and "frames" not in p.stdout, "decoded before failing"


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs: room for a CSV, not for the report."""
    d = tmp_path / "full"
    d.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a full disk")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)],
                       capture_output=True, text=True)  # fmt: skip
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {p.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_predict_on_a_full_disk_leaves_no_partial_outputs(full_disk, clips_dir):
    clip = clips_dir / "single_face.mp4"
    p = run_cli("predict", clip, "--out", full_disk, "-j", "1")
    assert_one_error(p, "single_face", "no space left")
    # the batch's index may list the failure; no output of the video is left
    mine = [f.name for f in full_disk.iterdir() if f.name.startswith("single_face")]
    assert mine == [], "partial outputs left"


@pytest.mark.slow  # numba compiles librosa's functions afresh for this user (cold cache)
def test_audio_extraction_without_a_writable_home(place):
    """A service user with no writable HOME (and read-only site-packages): numba's cache
    goes to a per-user folder under the temporary folder instead of failing."""
    store = place / "svc-store"
    p = run_cli("extract", place / "speech.mp4", "--out", store, "--features", "audio",
                prefix=as_nobody(), env={"HOME": "/nonexistent"},
                cwd=place)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert "cannot cache" not in p.stderr
    assert (store / "data" / "speech" / "audio").is_dir()
