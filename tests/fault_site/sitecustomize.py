"""Fault injection inside vafusion's atomic writes, in every Python process of a test run.

Loaded at start-up (``sitecustomize``) only by tests/fault_runner.py, which puts this folder
on ``PYTHONPATH`` and sets ``VAFUSION_FAULT=<mode>:<nth>:<log>``; does nothing otherwise.
Worker processes (predict's isolated workers, forkserver) inherit the environment, so the
hook is in all of them. See tests/fault_runner.py for the modes.
"""

from __future__ import annotations

import os

if os.environ.get("VAFUSION_FAULT"):
    import errno
    import fcntl
    import signal
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tempfiles import is_temporary

    _MODE, _NTH, _LOG = os.environ["VAFUSION_FAULT"].split(":", 2)

    def _count(src, dst) -> int:
        """Append this rename to the log (shared by all processes) and return its number."""
        with open(_LOG, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            n = len(fh.read().splitlines()) + 1
            fh.write(f"{n}\t{src}\t{dst}\t{os.getpid()}\n")
            fh.flush()
            return n

    def _wrap(real):
        def faulty(src, dst, *args, **kwargs):
            if is_temporary(Path(src).name):
                n = _count(src, dst)
                if n == int(_NTH) and _MODE == "kill":  # the whole run: parent and workers
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                if n == int(_NTH) and _MODE == "raise":
                    raise OSError(errno.ENOSPC, "No space left on device (injected)", str(dst))
            return real(src, dst, *args, **kwargs)

        return faulty

    os.replace = _wrap(os.replace)
    os.rename = _wrap(os.rename)
