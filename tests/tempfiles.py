"""The names of vafusion's temporary files, in one place, for "nothing left behind" checks.

Every temporary the code writes is hidden and sits next to its final name:

- :func:`vafusion.fileio.atomic_path` (predictions, reports, exports, checkpoints) and the
  feature store (:mod:`vafusion.store._atomic`): ``.tmp-<final>-<host>-<pid>-<random>``
  (files get the final name's suffix too) for files and entry folders;
- the store's ``.trash-<key>-<hex8>``: a replaced entry being deleted.

The prefixes are imported from the code, so a renamed prefix cannot silently make these
checks pass; ``tests/test_crash_safety.py`` plants real temporaries (made by the code
itself) and checks that :func:`is_temporary` matches them.
"""

from __future__ import annotations

from pathlib import Path

from vafusion.store._atomic import TMP_PREFIX, TRASH_PREFIX


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary name written by vafusion's atomic writers."""
    return name.startswith((TMP_PREFIX, TRASH_PREFIX))


def leftover_temporaries(folder: str | Path) -> list[Path]:
    """Every temporary file or folder under ``folder`` (recursive), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if is_temporary(p.name))
