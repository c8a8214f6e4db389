"""Crash-safe file primitives used by the feature store.

Every file the store publishes is first written under a temporary name in the same folder,
flushed and ``fsync``-ed, then renamed over its final name (``os.replace`` is atomic on
POSIX file systems), and the parent folder is ``fsync``-ed so the rename itself survives a
power cut. A crash at any point leaves either the old state or the new one, plus at most a
temporary file or folder that no reader ever looks at.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: prefix of temporary files and folders (never read; removed by ``FeatureStore.cleanup``)
TMP_PREFIX = ".tmp-"
#: prefix of replaced entries waiting to be deleted
TRASH_PREFIX = ".trash-"


def tmp_prefix(final: str) -> str:
    """``.tmp-<final>-<host>-<pid>-``: the start of this process's temporaries for ``final``."""
    host = socket.gethostname().replace(".", "_").replace("-", "_")
    return f"{TMP_PREFIX}{final}-{host}-{os.getpid()}-"


def tmp_name(final: str) -> str:
    """A unique temporary sibling name for ``final`` (host, pid and a random part)."""
    return tmp_prefix(final) + uuid.uuid4().hex[:8]


def fsync_dir(path: Path) -> None:
    """``fsync`` a folder so that renames inside it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and ``fsync`` it (no rename: the caller publishes)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_npy_synced(path: Path, array: np.ndarray) -> None:
    """Save ``array`` as an uncompressed ``.npy`` file and ``fsync`` it."""
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return str(obj)


def dumps(obj: Any) -> str:
    """JSON text of ``obj`` (numpy scalars/arrays and paths converted; NaN kept as NaN)."""
    return json.dumps(obj, default=_json_default, indent=1, sort_keys=True)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Replace ``path`` atomically with the JSON of ``obj``."""
    path = Path(path)
    tmp = path.with_name(tmp_name(path.name))
    try:
        write_bytes_synced(tmp, dumps(obj).encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (``fcntl.flock``) held for the ``with`` block.

    Serialises manifest updates between processes on one machine and between machines on
    file systems with working ``flock`` (local disks, NFSv4, Lustre, GPFS, CephFS).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def pid_is_dead(name: str) -> bool:
    """Whether the temporary ``name`` (see :func:`tmp_name`) belongs to a dead local process."""
    parts = name.rsplit("-", 3)
    if len(parts) != 4:
        return False
    _, host, pid, _ = parts
    if host != socket.gethostname().replace(".", "_").replace("-", "_"):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but is not yet reaped (Linux ``/proc``; else False).

    A worker killed with its parent stays a zombie until ``init`` reaps it: it writes
    nothing more, so its temporaries are garbage already.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def age_s(path: Path) -> float:
    """Seconds since ``path`` was last modified."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
