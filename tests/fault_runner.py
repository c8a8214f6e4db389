"""Run the ``vafusion`` command line with a fault inside its atomic writes (test helper).

Usage: ``python tests/fault_runner.py {kill,raise,count} N LOG vafusion-args...``

``os.replace`` and ``os.rename`` are wrapped in every Python process of the run (the
``sitecustomize`` in tests/fault_site, so predict's worker processes too). Every call that
publishes a vafusion temporary (:func:`tempfiles.is_temporary` on its source: the data is
written and fsync-ed, the rename not yet done) is numbered across processes and logged to
``LOG`` (number, temporary, final name, pid); the ``N``-th such call either

- ``kill``: SIGKILLs the whole run (its own process group: parent and workers) before
  renaming, as a crash or ``kill -9`` between write and rename would, or
- ``raise``: raises ``OSError(ENOSPC)`` instead of renaming (the writer's cleanup runs);

``count`` only logs. The fault fires inside the real writers, whichever file is being
written at that point. The run is a new session, so the kill cannot reach the caller.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent / "fault_site"


def run(mode: str, nth: int, log: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m vafusion *args`` with the fault (``kwargs``: for ``subprocess.run``)."""
    assert mode in ("kill", "raise", "count"), mode
    env = dict(kwargs.pop("env", None) or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), env.get("PYTHONPATH")]))
    env["VAFUSION_FAULT"] = f"{mode}:{nth}:{log}"
    cmd = [sys.executable, "-m", "vafusion", *map(str, args)]
    return subprocess.run(cmd, env=env, start_new_session=True, **kwargs)


if __name__ == "__main__":
    mode, nth, log, *rest = sys.argv[1:]
    raise SystemExit(run(mode, int(nth), Path(log), *rest).returncode)
