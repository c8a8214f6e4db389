"""Output files: atomic, confined to the output folder."""

from __future__ import annotations

import pytest

from vafusion.errors import VafusionError
from vafusion.report.files import atomic_write_text, confined, safe_stem


@pytest.mark.parametrize(
    "name", ["../../x", "..", "/etc/passwd", "a/../../b", "..\\..\\c", ".hidden"]
)
def test_stems_cannot_escape(tmp_path, name):
    stem = safe_stem(name)
    assert "/" not in stem and "\\" not in stem and not stem.startswith(".")
    path = confined(tmp_path, f"{stem}.csv")
    assert path.parent == tmp_path.resolve()


def test_confined_refuses_escape(tmp_path):
    with pytest.raises(VafusionError):
        confined(tmp_path, "../evil.csv")


def test_atomic_write_leaves_no_temp(tmp_path):
    p = atomic_write_text(tmp_path / "a.json", "{}")
    assert p.read_text() == "{}"
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]
