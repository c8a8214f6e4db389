"""The names of vafusion's temporary files, in one place, for "nothing left behind" checks.

The code writes two kinds of temporaries (both hidden, both next to their final name):

- :func:`vafusion.fileio.atomic_path` (predictions, reports, exports, checkpoints):
  ``tempfile.mkstemp(prefix=".<name>.", suffix=<ext>)``, i.e. ``.<name>.<8 random><ext>``;
- the feature store (:mod:`vafusion.store._atomic`): ``.tmp-<final>-<host>-<pid>-<hex8>``
  files and entry folders, and ``.trash-<key>-<hex8>`` for a replaced entry being deleted.

The prefixes are imported from the code, so a renamed prefix cannot silently make these
checks pass; ``tests/test_crash_safety.py`` plants real temporaries (made by the code
itself) and checks that :func:`is_temporary` matches them.
"""

from __future__ import annotations

import re
from pathlib import Path

from vafusion.store._atomic import TMP_PREFIX, TRASH_PREFIX

#: ``tempfile``'s random part: 8 characters of ``[a-z0-9_]`` (``tempfile._RandomNameSequence``)
_MKSTEMP = re.compile(r"^\.(?P<final>.+)\.[a-z0-9_]{8}(?P<ext>\.[^.]+)?$")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary name written by vafusion's atomic writers."""
    if name.startswith((TMP_PREFIX, TRASH_PREFIX)):
        return True
    m = _MKSTEMP.match(name)
    if m is None:
        return False
    # mkstemp's suffix is the final name's suffix ("" when it has none)
    return (m["ext"] or "") == Path(m["final"]).suffix


def leftover_temporaries(folder: str | Path) -> list[Path]:
    """Every temporary file or folder under ``folder`` (recursive), sorted."""
    return sorted(p for p in Path(folder).rglob("*") if is_temporary(p.name))
