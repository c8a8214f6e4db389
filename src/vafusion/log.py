"""Logging and progress bars.

Progress bars (rich) are shown only when stderr is a terminal, so logs of batch jobs and
CI stay clean; :func:`progress` is a no-op wrapper otherwise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger("vafusion")


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``vafusion.<name>``."""
    return logging.getLogger(f"vafusion.{name}")


def setup_logging(level: int | str = logging.INFO) -> None:
    """Send vafusion's log records to stderr, one line each (``level: message``)."""
    root = logging.getLogger("vafusion")
    root.setLevel(level)
    if not any(getattr(h, "_vafusion", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler._vafusion = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False


def show_progress() -> bool:
    """Whether progress bars should be drawn (stderr is an interactive terminal)."""
    return sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: float | None = None, unit: str = "it"):
    """Context manager yielding ``advance(n=1)``; draws a rich bar only on a terminal.

    Examples
    --------
    >>> with progress_bar("frames", total=10) as advance:
    ...     for _ in range(10):
    ...         advance()
    """
    if not show_progress():
        yield lambda n=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar (only on a terminal)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total=total) as advance:
        for item in items:
            yield item
            advance()
