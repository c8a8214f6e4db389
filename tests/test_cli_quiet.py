"""The terminal stays quiet: native MediaPipe/TFLite/absl log lines are filtered out of
stderr by default (``--verbose`` shows them), our own warnings and errors always pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vafusion._stderr_filter import is_noise, run

# the lines MediaPipe 0.10.21 prints when its face graphs start (copied from a real run)
NATIVE = re.compile(
    r"inference_feedback_manager|absl::InitializeLog|landmark_projection_calculator"
    r"|TensorFlow Lite XNNPACK"
)


def _cli(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(
        [sys.executable, "-m", "vafusion", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_filter_drops_native_info_and_warning_lines_only(tmp_path):
    """Synthetic byte stream through the real filter loop: partial lines, E/F records kept."""
    lines = [
        b"W0000 00:00:1796021224.551514   15979 inference_feedback_manager.cc:114] Feedback\n",
        b"I0000 00:00:1796021224.551514   15979 gl_context.cc:369] GL version\n",
        b"WARNING: All log messages before absl::InitializeLog() is called are written\n",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        # two processes starting together: prefixes and messages interleaved
        b"INFO: INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"E0000 00:00:1796021224.551514   15979 graph.cc:12] a real native error\n",
        b"WARNING: clip.mp4: no audio stream\n",
        b"error: clip.mp4: no such file\n",
        b"Fatal Python error: Segmentation fault (no newline at the end)",
    ]
    src = tmp_path / "in"
    src.write_bytes(b"".join(lines))
    dst = tmp_path / "out"
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        run(fin.fileno(), fout.fileno())
    assert dst.read_bytes() == b"".join(lines[6:])
    assert is_noise(lines[0]) and not is_noise(lines[6])


@pytest.mark.slow
def test_predict_prints_no_native_log_line_but_keeps_our_messages(tmp_path, clips_dir):
    """Real CLI on real clips: a clip with a face, one without (our warning), a missing file
    (our error); stdout holds only the result lines."""
    args = [
        "predict",
        str(clips_dir / "single_face.mp4"),
        str(clips_dir / "no_face.mp4"),
        str(tmp_path / "missing.mp4"),
        "--out",
        str(tmp_path / "out"),
    ]
    quiet = _cli(args, tmp_path)
    assert quiet.returncode == 1, quiet.stderr
    assert not NATIVE.search(quiet.stderr), quiet.stderr
    assert quiet.stderr.count("no_face.mp4: no face") == 1, quiet.stderr  # ours, once
    assert re.search(r"^error: .*missing\.mp4: no such file$", quiet.stderr, re.M), quiet.stderr
    assert [ln.split(": ")[0] for ln in quiet.stdout.splitlines()] == [
        str(clips_dir / "single_face.mp4"),
        str(clips_dir / "no_face.mp4"),
    ]
    # many recordings at a glance: index.html and summary.csv list every video
    import pandas as pd

    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert [Path(v).name for v in summary["video"]] == [
        "single_face.mp4",
        "no_face.mp4",
        "missing.mp4",
    ]
    assert summary["face_coverage"].iloc[0] > 0.9 and summary["face_coverage"].iloc[1] == 0
    assert "no such file" in summary["error"].iloc[2]
    index = (tmp_path / "out" / "index.html").read_text()
    assert "single_face.html" in index and "no_face.html" in index
    # one video on two cores: its time chunks start MediaPipe in two processes at once
    one = _cli([*args[:2], "-j", "2", "--out", str(tmp_path / "out1")], tmp_path)
    assert one.returncode == 0 and not NATIVE.search(one.stderr), one.stderr
    verbose = _cli(["--verbose", *args[:2], "--out", str(tmp_path / "out2")], tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    assert NATIVE.search(verbose.stderr), verbose.stderr


RESTORE_SCRIPT = """
import time
from vafusion import log
from vafusion.parallel.local import ChunkPool

if __name__ == "__main__":
    assert log.quiet_native_logs()
    with ChunkPool(1).start() as pool:  # starts multiprocessing's fork server
        pool.wait_ready()
    t = time.perf_counter()
    log.restore_native_logs()
    print(f"{time.perf_counter() - t:.3f}")
"""


def test_filter_not_waited_for_while_the_fork_server_holds_stderr(tmp_path):
    """The fork server holds descriptor 2 until this process exits, so the filter cannot
    drain before: restoring must not sit out the 2 s drain timeout (it did, on every
    chunked predict)."""
    script = tmp_path / "restore.py"  # a file: the fork server re-imports __main__
    script.write_text(RESTORE_SCRIPT)
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert float(p.stdout.strip().splitlines()[-1]) < 1.0, p.stdout
