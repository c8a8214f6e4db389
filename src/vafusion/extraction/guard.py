"""Refuse to start Dask worker processes from an unguarded script.

Dask's worker processes are started with ``multiprocessing``'s *spawn* method, which
re-imports the main script in every worker. A script that calls ``extract(...,
workers=2)`` at its top level, outside ``if __name__ == "__main__":``, would then start a
cluster again inside each worker: hundreds of lines of tracebacks ending in "Nanny failed
to start". :func:`check_main_guard` finds that case before any process starts and raises
one :class:`~vafusion.errors.ConfigError` instead.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from pathlib import Path

from vafusion.errors import ConfigError

_ADVICE = (
    "Dask's worker processes re-import the main script: put the call under "
    "'if __name__ == \"__main__\":' (see docs/scale-out.md), or use workers=1"
)


def _guarded_lines(tree: ast.Module) -> list[tuple[int, int]]:
    """Line spans of top-level ``if __name__ == "__main__":`` blocks."""
    spans = []
    for node in tree.body:
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)
            and {_name(test.left), _name(test.comparators[0])} == {"__name__", "'__main__'"}
        ):
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return repr(node.value)
    return ""


def _main_module_line() -> tuple[Path, int] | None:
    """The script file and the line of its top-level code that led to this call."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script or not str(script).endswith(".py"):
        return None  # interactive session, python -c, python -m (guarded by runpy), ...
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in (
            "__main__",
            "__mp_main__",
        ):
            return Path(script), frame.f_lineno
        frame = frame.f_back
    return None


def check_main_guard() -> None:
    """Raise :class:`ConfigError` if worker processes would re-run the calling script.

    Raises
    ------
    ConfigError
        Called from a worker process that is re-importing the main script, or from top-level
        code of the main script that is not under ``if __name__ == "__main__":``.
    """
    if multiprocessing.parent_process() is not None and "__mp_main__" in sys.modules:
        raise ConfigError(f"a Dask worker process re-ran the main script; {_ADVICE}")
    where = _main_module_line()
    if where is None:
        return
    script, line = where
    try:
        tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return  # cannot tell: let Dask try
    if not any(a <= line <= b for a, b in _guarded_lines(tree)):
        raise ConfigError(f"{script}:{line} starts Dask workers at the top level; {_ADVICE}")
