"""Long-running helper processes of tests (a ``dask scheduler``, ``dask worker``...)."""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(daemons: list[subprocess.Popen]) -> None:
    """Terminate processes (last started first), killing any still alive after 30 s."""
    for d in reversed(daemons):
        d.terminate()
        try:
            d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
