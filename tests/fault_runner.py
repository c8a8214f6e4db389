"""Run the ``vafusion`` command line with a fault inside its atomic writes (test helper).

Usage: ``python tests/fault_runner.py {kill,raise,count} N LOG vafusion-args...``

``os.replace`` and ``os.rename`` are wrapped in this process (predict ``-j 1`` and extract
``--workers 1`` write from this process). Every call that publishes a vafusion temporary
(:func:`tempfiles.is_temporary` on its source: the data is written and fsync-ed, the rename
not yet done) is counted and its source and destination appended to ``LOG``; the ``N``-th
such call (1-based) either

- ``kill``: SIGKILLs this process before renaming (a crash between write and rename), or
- ``raise``: raises ``OSError(ENOSPC)`` instead of renaming (the writer's cleanup runs);

``count`` (or ``N = 0``) only logs. The fault fires inside the real writers, whichever
file is being written at that point.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tempfiles import is_temporary  # noqa: E402


def _install(mode: str, nth: int, log: Path) -> None:
    calls = {"n": 0}

    def wrap(real):
        def faulty(src, dst, *args, **kwargs):
            if is_temporary(Path(src).name):
                calls["n"] += 1
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(f"{calls['n']}\t{src}\t{dst}\n")
                if calls["n"] == nth and mode == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if calls["n"] == nth and mode == "raise":
                    raise OSError(errno.ENOSPC, "No space left on device (injected)", str(dst))
            return real(src, dst, *args, **kwargs)

        return faulty

    os.replace = wrap(os.replace)
    os.rename = wrap(os.rename)


def main() -> None:
    mode, nth, log, *args = sys.argv[1:]
    assert mode in ("kill", "raise", "count"), mode
    _install(mode, int(nth), Path(log))
    from vafusion.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
