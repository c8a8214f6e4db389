"""Safe output files: atomic writes (temporary file + fsync + rename) inside an output folder.

Every file vafusion publishes for a user (predictions, reports, exports, checkpoints,
metrics) goes through :func:`atomic_path`: it is written under a temporary name in the
same folder, flushed to disk, then renamed over its final name (``os.replace`` is atomic
on POSIX file systems). A crash or ``kill -9`` at any point leaves either the old file or
the new one, never a half-written file under the final name, plus at most one hidden
temporary, ``.tmp-<name>-<host>-<pid>-<random><suffix>`` (the feature store's naming, see
:mod:`vafusion.store._atomic`), which :func:`remove_dead_temporaries` deletes on the next
run.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vafusion.errors import VafusionError
from vafusion.store._atomic import TMP_PREFIX, pid_is_dead, tmp_prefix

#: anything but letters/digits (any script), ``_``, ``.``, ``+``, ``-`` becomes ``_``
_UNSAFE = re.compile(r"[^\w.+-]+")


def safe_stem(name: str, default: str = "video") -> str:
    """Turn a video name into a file stem that cannot leave the output folder.

    Path separators, ``..``, whitespace, control and punctuation characters become ``_``;
    letters of any script are kept; leading dots are removed (no hidden files, no ``..``).

    Examples
    --------
    >>> safe_stem("../../x")
    'x'
    >>> safe_stem("my clip (1)")
    'my_clip_1'
    >>> safe_stem("café clip")
    'café_clip'
    """
    stem = Path(str(name).replace("\\", "/")).name
    stem = _UNSAFE.sub("_", stem).strip("._-")
    return stem[:150] or default


def confined(folder: str | os.PathLike, filename: str) -> Path:
    """Return ``folder / filename`` after checking it stays inside ``folder``.

    Raises
    ------
    VafusionError
        If the resolved path would lie outside ``folder``.
    """
    base = Path(folder).resolve()
    target = (base / filename).resolve()
    if target.parent != base:
        raise VafusionError(f"refusing to write outside the output folder: {filename!r}", base)
    return target


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; publish it as ``path`` on success.

    The temporary file keeps ``path``'s suffix (so writers that pick a format from the
    name, like PyAV or pandas, still work). On a clean exit it is fsync-ed and renamed onto
    ``path``; on an exception it is deleted and the exception propagates (an ``OSError``,
    e.g. a full disk, as a :class:`~vafusion.errors.VafusionError` naming ``path``).

    Examples
    --------
    >>> with atomic_path("out/model.pt") as tmp:  # doctest: +SKIP
    ...     torch.save(state, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the store's temporary names (host, pid: see remove_dead_temporaries) + the suffix
    fd, name = tempfile.mkstemp(prefix=tmp_prefix(path.name), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):  # disk full, permission... : one line for the user
            raise VafusionError(f"cannot write: {exc.strerror or exc}", path) from exc
        raise


def remove_dead_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporary files that dead processes of this host left in ``folder``.

    A crash or ``kill -9`` between writing and renaming leaves one hidden temporary; the
    next run into the same folder calls this. Temporaries of live processes (another run
    writing there now) and of other hosts are kept. Returns how many were deleted.
    """
    n = 0
    for p in Path(folder).glob(f"{TMP_PREFIX}*"):
        if p.is_file() and pid_is_dead(p.name):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
    return n


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
