"""The ``vafusion`` command line: a thin layer over the Python API.

Each command group lives in its own module and registers itself on :data:`app`. User
mistakes (:class:`~vafusion.errors.VafusionError`) are printed as one line
``error: <file>: <problem>`` with a non-zero exit; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import typer

from vafusion.errors import ConfigError, VafusionError
from vafusion.log import set_verbosity

app = typer.Typer(
    name="vafusion",
    help="Frame-by-frame valence and arousal from video with audio.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"debug": False, "main": False}


@app.callback()
def _global_options(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log debug messages and the native libraries' logs."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log errors only, no progress."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Frame-by-frame valence and arousal from video with audio."""
    _state["debug"] = debug
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.INFO)
    # MediaPipe/TFLite/absl log lines are filtered out unless --verbose (by the console
    # script only: an app invoked in-process with its stderr redirected, e.g. captured by a
    # test runner or a notebook, keeps that stderr)
    native = verbose if _state["main"] and sys.stderr is sys.__stderr__ else None
    set_verbosity(level, progress=not quiet, native_logs=native)


def alias(value, old, name: str, old_name: str):
    """The value of an option given under its current or its old (hidden) spelling."""
    if old is not None:
        if value is not None and value != old:
            raise ConfigError(f"give {name} or its old spelling {old_name}, not both")
        return old
    return value


def examples(*commands: str) -> str:
    """A ``--help`` epilog listing example command lines, one per line (not re-wrapped)."""
    label = "Example:" if len(commands) == 1 else "Examples:"
    return "\b\n" + label + "\n" + "\n".join(f"  {c}" for c in commands)


# Command modules register themselves on `app` when imported.
from vafusion.cli import (  # noqa: E402,F401
    extract_cmds,
    media_cmds,
    openface_cmds,
    predict_cmds,
    train_cmds,
)


class Interrupted(BaseException):
    """Ctrl-C, raised by the CLI's SIGINT handler.

    Click turns a ``KeyboardInterrupt`` into "Aborted!" and exit 1; this one passes through
    it (a ``BaseException`` like ``KeyboardInterrupt``: ``finally`` blocks and cleanups run)
    to :func:`main`, which prints ``error: interrupted`` and exits 130.
    """


def _on_sigint(signum, frame) -> None:
    raise Interrupted()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vafusion`` console script."""
    _state["main"] = True
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        app(args=argv, prog_name="vafusion")
    except VafusionError as exc:
        if _state["debug"]:
            raise
        # always ONE line, even when a library message (e.g. a YAML parser's) spans several
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, Interrupted):
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C ends at once
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if argv is None:  # the console script, not a caller in a longer-lived process
            _freeze_heap_for_exit()


def _freeze_heap_for_exit() -> None:
    """Let the interpreter's shutdown skip collecting the heap the command built.

    The command is over (outputs written and closed; atexit handlers such as logging's
    flush still run). ``gc.freeze`` moves every tracked object to the permanent generation,
    which the collections of interpreter shutdown do not walk: at the end of a cold
    ``predict`` they took ~0.3 s over the objects of pandas, matplotlib, PyAV, ONNX Runtime
    (``benchmarks/predict_vs_commit.py``). Objects are still freed by reference counting; only
    cyclic garbage is left for the operating system to reclaim with the process.
    """
    import gc

    gc.freeze()
