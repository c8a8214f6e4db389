"""Run work on untrusted media in a child process that can die alone.

FFmpeg, PyAV, MediaPipe and ONNX Runtime are native code: a damaged or unusual file can
abort or segfault the process that decodes it (PyAV 18.1 aborts with "double free or
corruption" on some QuickTime channel layouts, see :func:`vafusion.io.container.audio_channels`).
In a batch that would kill every other video with it, and record nothing. The batch
drivers (``extract`` in one process, ``predict``) therefore call their per-video task
through an :class:`IsolatedWorker`: a long-lived child process (started with ``spawn``,
so no thread or lock state of the parent is inherited), which keeps its loaded models
from one video to the next. If it dies, the call raises :class:`~vafusion.errors.MediaError`
naming the file and the signal, the batch records that failure and goes on with a fresh
child. Python exceptions raised by the task travel back and are re-raised unchanged.

The Dask executors already run each task in a worker process (a dead worker is a
``KilledWorker`` there); this is the same protection for the default, local path.

Examples
--------
>>> with IsolatedWorker() as worker:                                   # doctest: +SKIP
...     info = worker.call(probe, "clip.mp4", label="clip.mp4")
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any

from vafusion.errors import MediaError

#: what a dead child's exit means to a user, by signal
_CAUSES = {
    signal.SIGABRT: "aborted",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGKILL: "killed (out of memory?)",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "arithmetic fault",
    signal.SIGILL: "illegal instruction",
}


def crash_message(exitcode: int | None) -> str:
    """One line saying how a worker process ended (``exitcode`` as multiprocessing gives it)."""
    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
        except ValueError:
            return f"the decoding process died (signal {-exitcode})"
        cause = _CAUSES.get(sig, "killed")
        return f"the decoding process crashed ({sig.name}, {cause}); damaged or unsupported file?"
    return f"the decoding process exited unexpectedly (exit code {exitcode})"


def _serve(conn, log_level: int) -> None:
    """Child main loop: run ``(fn, args, kwargs)`` requests until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from vafusion.log import setup_logging

    setup_logging(log_level)
    try:
        from vafusion.log import forward_progress, set_verbosity

        set_verbosity(log_level, progress=False)  # the parent draws the progress bars
        forward_progress(lambda event: conn.send(("progress", event)))
    except (ImportError, TypeError, ValueError):  # pragma: no cover - older log module
        pass
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - travels back to the caller
            reply = ("err", exc)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            text = "".join(traceback.format_exception_only(reply[1])).strip()
            conn.send(("err", RuntimeError(text)))


class IsolatedWorker:
    """A child process that runs one call at a time and may crash without harm.

    Parameters
    ----------
    enabled : bool, default True
        False runs calls in this process (for callers that cannot pickle their task).

    Notes
    -----
    ``fn``, its arguments and its result must be picklable (``fn`` a module-level
    function). Not thread-safe: use one worker per thread.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        from multiprocessing import spawn

        # a user who may not run the interpreter by its path (e.g. it lives in another
        # user's home) cannot start a child: the calls then run in this process
        self.enabled = enabled and os.access(spawn.get_executable(), os.X_OK)
        self._proc = None
        self._conn = None

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        level = logging.getLogger("vafusion").getEffectiveLevel()
        self._proc = ctx.Process(
            target=_serve, args=(child, level), name="vafusion-isolated", daemon=True
        )
        self._proc.start()
        child.close()
        self._conn = parent

    def call(self, fn: Callable[..., Any], *args: Any, label: str, **kwargs: Any) -> Any:
        """Return ``fn(*args, **kwargs)`` computed in the child process.

        Parameters
        ----------
        fn : callable
            A module-level function.
        label : str
            The file the work is about: named in the error if the child dies.

        Raises
        ------
        MediaError
            The child died (native crash, killed); the next call starts a new child.
        Exception
            Whatever ``fn`` raised, re-raised here.
        """
        if not self.enabled:
            return fn(*args, **kwargs)
        if self._proc is None or not self._proc.is_alive():
            self.close()
            self._start()
        from vafusion.log import ProgressRelay

        relay = ProgressRelay()  # the child's progress bars, drawn here
        try:
            self._conn.send((fn, args, kwargs))
            status, value = self._conn.recv()
            while status == "progress":
                relay(value)
                status, value = self._conn.recv()
        except (EOFError, ConnectionError, OSError):
            self._proc.join(timeout=10)
            code = self._proc.exitcode
            self.close()
            raise MediaError(crash_message(code), label) from None
        except BaseException:  # Ctrl-C while waiting: do not leave the child running
            self.close(kill=True)
            raise
        finally:
            relay.close()
        if status == "err":
            raise value
        return value

    def close(self, *, kill: bool = False) -> None:
        """Stop the child process (if any); ``kill``: without waiting for its work."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            if not kill:
                self._proc.join(timeout=5)  # the closed pipe ends its loop
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5)
            self._proc = None
