"""Logging, progress bars and the native-log filter.

- :func:`set_verbosity` is the one switch, from Python as from the command line: the level
  of vafusion's log records (sent to stderr, one line each), whether progress bars are
  drawn, and whether the native libraries' log lines (MediaPipe, TensorFlow Lite, absl)
  reach the terminal.
- Progress bars (rich) are drawn on an interactive terminal or in a Jupyter notebook, never
  when stderr is redirected (batch jobs, CI) and never on stdout. All bars of a process
  share one display (a folder of videos shows one bar per video and one overall).
- :func:`quiet_native_logs` routes file descriptor 2 through a small filter process
  (:mod:`vafusion._stderr_filter`) that drops native INFO/WARNING log lines and passes every
  other line through; Python's own ``sys.stderr`` keeps writing to the terminal directly.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger("vafusion")

_settings = {"progress": True}


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``vafusion.<name>``."""
    return logging.getLogger(f"vafusion.{name}")


class _NoFaceOnce(logging.Filter):
    """Say "no face in <file>" once: each face feature set of a pass finds it (one minute)."""

    _pattern = re.compile(r"^(?P<path>.+?): no face (?:found )?in any of its \d+ frames")

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        import time

        m = self._pattern.match(record.getMessage())
        if m is None:
            return True
        now, last = time.monotonic(), self._seen.get(m["path"], -1e9)
        self._seen[m["path"]] = now
        return now - last > 60.0


_NO_FACE_ONCE = _NoFaceOnce()


def setup_logging(level: int | str = logging.INFO) -> None:
    """Send vafusion's log records to stderr, one line each (``level: message``)."""
    root = logging.getLogger("vafusion")
    root.setLevel(level)
    for h in [h for h in root.handlers if getattr(h, "_vafusion", False)]:
        root.removeHandler(h)  # re-bind to the current sys.stderr
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(_NO_FACE_ONCE)
    handler._vafusion = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False


def set_verbosity(
    level: int | str = "info",
    *,
    progress: bool | None = None,
    native_logs: bool | None = None,
) -> None:
    """Choose what vafusion prints (from Python; the CLI's ``-v``/``-q`` call this).

    Parameters
    ----------
    level : int or {"debug", "info", "warning", "error"}
        Level of vafusion's own log records, printed on stderr as ``LEVEL: message``.
    progress : bool, optional
        Draw progress bars (on a terminal or in a notebook). Default: unchanged (on).
    native_logs : bool, optional
        Let the native libraries' INFO/WARNING log lines through (True) or filter them
        out (False, see :func:`quiet_native_logs`). Default: unchanged.

    Examples
    --------
    >>> import vafusion
    >>> vafusion.set_verbosity("warning", progress=False)
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {level!r}")
    if native_logs is False:
        quiet_native_logs()
    elif native_logs is True:
        restore_native_logs()
    if progress is not None:
        _settings["progress"] = bool(progress)
    setup_logging(level)


# ---------------------------------------------------------------- native log filter

_native = {"proc": None, "saved_fd": None, "old_stderr": None, "lingering": False}


def stderr_held_until_exit() -> None:
    """Declare that a process which lives until this one exits holds descriptor 2.

    Called by whoever starts such a process (:class:`vafusion.parallel.local.ChunkPool`
    starts multiprocessing's fork server, which lives as long as this process): the
    native-log filter cannot drain before that holder exits, so :func:`restore_native_logs`
    then does not wait for it.
    """
    _native["lingering"] = True


_FILTER = Path(__file__).with_name("_stderr_filter.py")


def quiet_native_logs() -> bool:
    """Filter native INFO/WARNING log lines out of file descriptor 2 for this process.

    MediaPipe, TensorFlow Lite and absl write straight to descriptor 2 from C++, so Python's
    logging cannot silence them. Descriptor 2 becomes a pipe read by a filter process that
    writes every other line to the real stderr (child processes, e.g. Dask workers, inherit
    it); ``sys.stderr`` is re-opened on the real stderr, so Python's messages and progress
    bars go straight to the terminal. Idempotent; undone by :func:`restore_native_logs`.

    Returns
    -------
    bool
        True if the filter is active.
    """
    if _native["proc"] is not None:
        return True
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return False  # no descriptor 2 (embedded interpreter): nothing to filter
    r, w = os.pipe()
    try:
        import subprocess  # here: `import vafusion` stays light

        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_FILTER)],
            stdin=r,
            stdout=saved,
            stderr=saved,
            close_fds=True,
        )
    except OSError:
        for fd in (r, w, saved):
            os.close(fd)
        return False
    os.close(r)
    os.dup2(w, 2)
    os.close(w)
    _native.update(proc=proc, saved_fd=saved, old_stderr=sys.stderr)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    # the process-wide stderr stream, closed by restore_native_logs
    sys.stderr = open(os.dup(saved), "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115
    setup_logging(logging.getLogger("vafusion").level or logging.INFO)
    atexit.register(restore_native_logs)
    return True


def restore_native_logs() -> None:
    """Undo :func:`quiet_native_logs`: descriptor 2 on the real stderr again, filter drained."""
    proc = _native["proc"]
    if proc is None:
        return
    with suppress(OSError, ValueError):
        sys.stderr.flush()
    os.dup2(_native["saved_fd"], 2)  # closes the pipe's last write end held here
    os.close(_native["saved_fd"])
    current, sys.stderr = sys.stderr, _native["old_stderr"]
    if current is not sys.stderr:
        current.close()
    setup_logging(logging.getLogger("vafusion").level or logging.INFO)
    # lines still in the pipe are written before we return; a child process still holding
    # the pipe keeps the filter alive after the timeout, which is harmless. A holder that
    # lives until we exit (see stderr_held_until_exit) keeps it open anyway: waiting
    # would only delay the exit by the whole timeout (it was 2 s of every chunked predict)
    import subprocess

    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=0.05 if _native["lingering"] else 2)
    _native.update(proc=None, saved_fd=None, old_stderr=None)  # "lingering" stays: the holder does


# ---------------------------------------------------------------- progress


def show_progress() -> bool:
    """Whether progress bars are drawn: enabled, and stderr a terminal or a notebook."""
    if not _settings["progress"]:
        return False
    if sys.stderr.isatty():
        return True
    try:
        from rich.console import Console

        return bool(Console(stderr=True).is_jupyter)
    except Exception:  # pragma: no cover - rich missing pieces
        return False


class _SharedProgress:
    """One rich display for every bar of the process (rich allows one live display)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.progress = None
        self.users = 0

    def open(self, description: str, total: float | None, unit: str):
        with self.lock:
            if self.progress is None:
                self.progress = _make_progress()
                self.progress.start()
            self.users += 1
            return self.progress, self.progress.add_task(description, total=total, unit=unit)

    def close(self, task) -> None:
        with self.lock:
            self.progress.remove_task(task)
            self.users -= 1
            if self.users == 0:
                self.progress.stop()
                self.progress = None


_shared = _SharedProgress()


def _make_progress():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _RateColumn(ProgressColumn):
        """Items per second (frames/s, videos/s...)."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:6.1f}/s" if speed else "      /s", style="progress.data.speed")

    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        refresh_per_second=5,
    )


class Advance:
    """Callable advancing one progress bar: ``advance(n=1)``; ``advance.total = n``."""

    def __init__(self, progress=None, task=None) -> None:
        self._progress, self._task = progress, task

    def __call__(self, n: float = 1) -> None:
        if self._progress is None:
            return
        self._progress.advance(self._task, n)

    def set_total(self, total: float | None) -> None:
        """Set (or correct) the bar's total, e.g. once the exact frame count is known."""
        if self._progress is not None:
            self._progress.update(self._task, total=total)


@contextmanager
def progress_bar(description: str, total: float | None = None, unit: str = "it"):
    """Context manager yielding an :class:`Advance`; draws a bar only when :func:`show_progress`.

    Bars opened while another is open (several videos in threads, a frame bar under a
    video bar) share one display and are removed when done.

    Examples
    --------
    >>> with progress_bar("frames", total=10, unit="frames") as advance:
    ...     for _ in range(10):
    ...         advance()
    """
    forward = _settings.get("forward")
    if forward is not None:  # in a worker process: the parent draws the bar
        adv = _ForwardAdvance(forward, description, total, unit)
        try:
            yield adv
        finally:
            adv.close()
        return
    if not show_progress():
        yield Advance()
        return
    progress, task = _shared.open(description, total, unit)
    try:
        yield Advance(progress, task)
    finally:
        _shared.close(task)


# ---------------------------------------------------------------- bars of worker processes


def forward_progress(send) -> None:
    """In a worker process: send progress events to the parent instead of drawing bars.

    ``send(event)`` is called (under a lock, at most ~5 times a second per bar) with
    ``("open", key, description, total, unit)``, ``("advance", key, n)``, ``("total", key,
    total)`` or ``("close", key)``; the parent passes them to a :class:`ProgressRelay`.
    """
    lock = threading.Lock()

    def locked(event: tuple) -> None:
        with lock:
            send(event)

    _settings["forward"] = locked


class _ForwardAdvance(Advance):
    """:class:`Advance` of a worker process: batches advances and sends them."""

    _next = [0]

    def __init__(self, send, description: str, total: float | None, unit: str) -> None:
        super().__init__()
        self._send, self._pending, self._last = send, 0.0, 0.0
        self._next[0] += 1
        self._key = f"{os.getpid()}-{self._next[0]}"
        send(("open", self._key, description, total, unit))

    def __call__(self, n: float = 1) -> None:
        import time

        self._pending += n
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._send(("advance", self._key, self._pending))
            self._pending, self._last = 0.0, now

    def set_total(self, total: float | None) -> None:
        self._send(("total", self._key, total))

    def close(self) -> None:
        if self._pending:
            self._send(("advance", self._key, self._pending))
        self._send(("close", self._key))


class ProgressRelay:
    """In the parent: draws the bars a worker process forwards (see :func:`forward_progress`)."""

    def __init__(self) -> None:
        self._bars: dict[str, tuple] = {}

    def __call__(self, event: tuple) -> None:
        kind, key = event[0], event[1]
        if kind == "open":
            cm = progress_bar(event[2], total=event[3], unit=event[4])
            self._bars[key] = (cm, cm.__enter__())
        elif key in self._bars:
            cm, adv = self._bars[key]
            if kind == "advance":
                adv(event[2])
            elif kind == "total":
                adv.set_total(event[2])
            elif kind == "close":
                del self._bars[key]
                cm.__exit__(None, None, None)

    def close(self) -> None:
        """Remove the bars a dead or finished worker left open."""
        for key in list(self._bars):
            self(("close", key))


def expected_frames(path: str | os.PathLike) -> int | None:
    """Frame count a progress bar can show before decoding (container header; a guess).

    The exact count (:func:`vafusion.io.media.probe`) needs a full decode; the header's
    count, or duration times rate, is right to a few frames and costs milliseconds.
    """
    if not os.path.isfile(path):  # a FIFO or device would block av.open; folders etc.
        return None
    try:
        import av

        with av.open(str(path)) as c:
            s = c.streams.video[0]
            if s.frames:
                return int(s.frames)
            if s.duration and s.time_base and s.average_rate:
                return int(round(float(s.duration * s.time_base * s.average_rate)))
            if c.duration and s.average_rate:
                return int(round(c.duration / 1e6 * float(s.average_rate)))
    except Exception:  # unreadable here: the decoder reports it properly later
        return None
    return None


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar (only when :func:`show_progress`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total=total) as advance:
        for item in items:
            yield item
            advance()


@contextmanager
def captured_warnings(name: str = "vafusion") -> Iterator[list[str]]:
    """Collect the WARNING-or-worse messages logged under ``name`` inside the block.

    Used on Dask workers, whose stderr the user does not see: the messages travel back with
    the task's result and are logged again by the client.
    """
    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = _Collect(logging.WARNING)
    lg = logging.getLogger(name)
    lg.addHandler(handler)
    old_level = lg.level
    if old_level == logging.NOTSET or old_level > logging.WARNING:
        lg.setLevel(logging.WARNING)
    try:
        yield records
    finally:
        lg.removeHandler(handler)
        lg.setLevel(old_level)
