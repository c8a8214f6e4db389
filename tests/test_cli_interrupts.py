"""Ctrl-C and silent live sources: one clear line and a prompt exit, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from test_bad_inputs import assert_one_error, run_cli
from test_native_crash import _children


def test_ctrl_c_prints_interrupted_and_exits_130(clips_dir, tmp_path):
    """SIGINT (what Ctrl-C sends) during ``extract``: ``error: interrupted``, exit 130, the
    worker process gone, no temporary file left in the store."""
    store = tmp_path / "store"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vafusion", "extract", str(clips_dir), "--out", str(store),
         "--features", "audio"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    kids: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None and not kids:
        kids = _children(proc.pid)
        time.sleep(0.05)
    assert kids, "the extraction worker never started"
    time.sleep(1.0)  # into the first videos
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and "Aborted" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == "error: interrupted", err[-2000:]
    time.sleep(0.5)
    assert not any(os.path.exists(f"/proc/{k}") and _alive(k) for k in kids), "worker left"
    leftovers = [p.name for p in store.rglob("*") if p.name.startswith((".tmp", ".trash"))]
    assert not leftovers, leftovers


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_silent_udp_source_honours_max_seconds():
    """A UDP address nobody sends to: an error naming the source after ``--max-seconds``
    (not FFmpeg's "Immediate exit requested" after its own 10 s)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free now; nothing will send to it
    url = f"udp://127.0.0.1:{port}"
    p = run_cli("predict", "--live", url, "--max-seconds", "2", timeout=120)
    # the wait used --max-seconds (2 s), not FFmpeg's own 10 s ("Immediate exit requested")
    assert_one_error(p, url, "no video data arrived within 2 s")
    assert "Immediate exit" not in p.stderr
    p = run_cli("predict", "--live", url, "--max-seconds", "0", timeout=120)
    assert_one_error(p, "", "--max-seconds must be a number > 0")
