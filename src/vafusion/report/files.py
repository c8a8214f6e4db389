"""Safe output files: atomic writes (temp file + rename) confined to an output folder."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from vafusion.errors import VafusionError

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_stem(name: str, default: str = "video") -> str:
    """Turn a video name into a file stem that cannot leave the output folder.

    Path separators, ``..``, control characters and other unusual characters become ``_``;
    leading dots are removed (no hidden files, no ``..``).

    Examples
    --------
    >>> safe_stem("../../x")
    'x'
    >>> safe_stem("my clip (1)")
    'my_clip_1'
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def temp_path_for(path: str | os.PathLike) -> Path:
    """A fresh temporary path next to ``path`` (for writers that need a file name).

    The caller renames it onto ``path`` with :func:`os.replace` when done.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)
