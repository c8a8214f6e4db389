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


#: the threads started by :func:`import_in_background`, by module list (one per process)
_STARTED: dict[tuple[str, ...], threading.Thread] = {}
_LOCK = threading.Lock()


def import_in_background(modules=REPORT_MODULES) -> threading.Thread:
    """Import ``modules`` in a daemon thread, now, and return the thread (once per process:
    later calls return the same thread).

    For a process that will write reports after a long wait (``predict`` while its worker
    processes track faces): the imports, about a second on one core, then overlap the wait
    instead of delaying the files. An import that fails here is left to fail again, with its
    message, where the module is used; Python's import locks make a concurrent import of the
    same module wait for this one.
    """

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - reported where the module is really used
                return

    key = tuple(modules)
    with _LOCK:
        if key not in _STARTED:
            _STARTED[key] = threading.Thread(target=run, name="vafusion-imports", daemon=True)
            _STARTED[key].start()
        return _STARTED[key]
