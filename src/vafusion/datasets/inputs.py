"""Which videos a list of files and folders names (for ``vafusion extract``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from vafusion.datasets.imageseq import is_image_sequence
from vafusion.datasets.layouts import VIDEO_EXTENSIONS
from vafusion.errors import ConfigError, MediaError


def video_name(path: str | os.PathLike) -> str:
    """Store key of a video: its file stem (folder name for image sequences)."""
    p = Path(path)
    return p.name if p.is_dir() else p.stem


def find_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into the list of videos to extract.

    Files given explicitly are taken whatever their extension; folders are searched
    recursively for files with a video extension (:data:`vafusion.datasets.VIDEO_EXTENSIONS`)
    and for frame-image folders (AFEW-VA clips, see :func:`vafusion.datasets.is_image_sequence`).
    Hidden files and folders are ignored.

    A named path that does not exist (or is no regular file) is kept as is: extracting it
    fails with one clear line, like a damaged file, and the other videos are processed.

    Raises
    ------
    ConfigError
        Two videos share a stem (the store is keyed by stem).
    """
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.is_dir() or is_image_sequence(p):
            found.append(p)  # a missing or odd path too: it fails alone, later
            continue
        found.extend(_walk(p))
    seen: dict[str, Path] = {}
    dups = []
    unique = []
    for p in found:
        stem = video_name(p)
        if stem in seen:
            if os.path.realpath(seen[stem]) != os.path.realpath(p):  # no raise on loops
                dups.append(f"{seen[stem]} and {p}")
            continue
        seen[stem] = p
        unique.append(p)
    if dups:
        raise ConfigError(
            "videos must have distinct names (the store is keyed by file stem): "
            + "; ".join(dups[:5])
        )
    return unique


def empty_folders(inputs: Iterable[Path], videos: list[Path]) -> dict[str, MediaError]:
    """``{folder name: error}`` for the input folders in which no video was found."""
    out = {}
    for d in map(Path, inputs):
        if d.is_dir() and not any(v == d or d in v.parents for v in videos):
            exts = ", ".join(sorted(VIDEO_EXTENSIONS))
            msg = f"no videos in this folder (searched recursively for {exts})"
            out[d.name or str(d)] = MediaError(msg, d)
    return out


def _walk(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        if here != root and is_image_sequence(here):
            found.append(here)
            dirnames[:] = []
            continue
        for f in sorted(filenames):
            if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS:
                found.append(here / f)
    return found
