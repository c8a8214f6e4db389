"""Reports: stress summary, plots, self-contained HTML, safe output files."""

from __future__ import annotations

import importlib
import threading

#: what writing one video's report imports (pandas and matplotlib take most of it)
REPORT_MODULES = (
    "pandas",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "vafusion.report.plots",
    "vafusion.report.html",
    "vafusion.report.player",
    "vafusion.report.thumbnails",
    "vafusion.io.grab",
)


#: the thread started by :func:`import_in_background` (one per process)
_THREAD: list[threading.Thread] = []
_LOCK = threading.Lock()


def import_in_background() -> threading.Thread:
    """Import :data:`REPORT_MODULES` in a daemon thread and return it (once per process:
    later calls return the same thread).

    For a process that will write reports after a long wait (``predict`` while faces are
    tracked): the imports then overlap the wait instead of delaying the files. An import
    that fails here is left to fail again, with its message, where the module is used;
    Python's import locks make a concurrent import of the same module wait for this one.
    """

    def run() -> None:
        for name in REPORT_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - reported where the module is really used
                return

    with _LOCK:
        if not _THREAD:
            _THREAD.append(threading.Thread(target=run, name="vafusion-imports", daemon=True))
            _THREAD[0].start()
        return _THREAD[0]
