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
import errno
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


#: what a file that is not a regular file is, by ``stat`` type
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_input_file(
    path: str | os.PathLike, error: type[VafusionError] = VafusionError, what: str = "file"
) -> Path:
    """Check that ``path`` is a readable, non-empty regular file, or say why not.

    Parameters
    ----------
    path : str or PathLike
    error : VafusionError subclass
        Raised with the path and one line: no such file, broken symbolic link, symbolic
        link loop, a folder, a FIFO / socket / device (never opened: reading a FIFO would
        block), permission denied, empty file.
    what : str
        What the file should be, for the messages ("media file", "CSV file").

    Returns
    -------
    Path
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error("symbolic link loop (the link leads back to itself)", p) from None
        if p.is_symlink():
            raise error(
                f"broken symbolic link (to {os.readlink(p)}, which does not exist)", p
            ) from None
        if exc.errno == errno.EACCES:
            raise error("permission denied (a folder on the way is not readable)", p) from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise error("no such file", p) from None
        raise error(f"cannot read: {exc.strerror}", p) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"is a folder, not a {what}", p)
    for test, kind in _NOT_REGULAR:
        if test(st.st_mode):
            raise error(f"is {kind}, not a {what}", p)
    if not os.access(p, os.R_OK):
        raise error("permission denied (file is not readable)", p)
    if st.st_size == 0:
        raise error("empty file (0 bytes)", p)
    return p


def check_output_folder(path: str | os.PathLike) -> Path:
    """Check, before any work, that ``path`` is or can be made a writable folder.

    Nothing is created: the folder itself if it exists, else its nearest existing parent,
    must be a writable folder.

    Raises
    ------
    VafusionError
        One line naming ``path``: it exists and is a file; a part of it is a file; it (or
        the parent it would be created in) is not writable.
    """
    p = Path(path)
    base = p
    while not base.exists() and base != base.parent:
        if base.is_symlink():
            raise VafusionError(f"broken symbolic link in the output path ({base})", p)
        base = base.parent
    if not base.is_dir():
        what = "exists and is a file" if base == p else f"{base} is a file"
        raise VafusionError(f"cannot be used as an output folder: {what}", p)
    if not os.access(base, os.W_OK | os.X_OK):
        where = "the folder" if base == p else f"cannot create it in {base}:"
        raise VafusionError(f"{where} not writable (permission denied or read-only file system)", p)
    return p


@contextlib.contextmanager
def all_or_nothing(folder: str | os.PathLike, stem: str) -> Iterator[None]:
    """Remove the ``<stem>.<ext>`` / ``<stem>_overlay.mp4`` files of ``folder`` written in
    the block if it fails on a write (e.g. a full disk): no incomplete set of outputs is
    left (files of earlier runs that the block did not touch stay).

    Raises
    ------
    VafusionError
        For an ``OSError`` (or a VafusionError from an atomic write) in the block: one
        line naming the folder.
    """
    folder = Path(folder)

    def mine(name: str) -> bool:  # <stem>.<ext> or <stem>_overlay.mp4, not <stem>.x.<ext>
        rest = name[len(stem) :]
        return name.startswith(stem) and (
            (rest.startswith(".") and rest.count(".") == 1) or rest == "_overlay.mp4"
        )

    def snapshot() -> dict[Path, tuple[int, int]]:
        out = {}
        for f in folder.iterdir() if folder.is_dir() else []:
            if mine(f.name):
                with contextlib.suppress(OSError):
                    st = f.stat()
                    out[f] = (st.st_ino, st.st_mtime_ns)
        return out

    before = snapshot()
    try:
        yield
    except (OSError, VafusionError) as exc:
        if isinstance(exc, VafusionError) and not isinstance(exc.__cause__, OSError):
            raise
        for f, sig in snapshot().items():
            if before.get(f) != sig:
                with contextlib.suppress(OSError):
                    f.unlink()
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        reason = cause.strerror or str(cause)
        raise VafusionError(
            f"cannot write the outputs of {stem!r} ({reason}); none of them were kept", folder
        ) from exc


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


def _strict(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # numpy scalar
        return _strict(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON of ``obj`` (NaN and infinities become ``null``; numpy scalars are
    plain numbers), ending with a newline: never the bare ``NaN`` that JSON parsers reject."""
    return json.dumps(_strict(obj), indent=indent, allow_nan=False) + "\n"


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (read in ``chunk``-byte blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
