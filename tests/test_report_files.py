"""Output files: atomic, confined to the output folder."""

from __future__ import annotations

import pytest

from vafusion.errors import VafusionError
from vafusion.fileio import atomic_write_text, confined, safe_stem


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


def test_stems_keep_letters_of_any_script():
    assert safe_stem("café clip.v2") == "café_clip.v2"
    assert safe_stem("интервью 1") == "интервью_1"
    assert safe_stem("会议/../录像") == "录像"


def test_atomic_path_publishes_only_on_success(tmp_path):
    from vafusion.fileio import atomic_path

    target = tmp_path / "model.pt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"  # the old file is intact
    assert [f.name for f in tmp_path.iterdir()] == ["model.pt"]  # no temporary left
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".pt" and tmp.parent == tmp_path
        tmp.write_text("new")
    assert target.read_text() == "new"
