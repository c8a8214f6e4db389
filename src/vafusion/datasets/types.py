"""The common types of every dataset layout: :class:`VideoEntry` and :class:`Dataset`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vafusion.errors import AnnotationError

#: canonical split names
SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class VideoEntry:
    """One annotated (or test) sequence: a video, a subject in it, and per-frame labels.

    Attributes
    ----------
    name : str
        Annotation name, unique in the dataset (Aff-Wild2: ``"10-60-1280x720_left"``).
    video : str
        Video name = file stem = the feature store's key (``"10-60-1280x720"``); the two
        subjects of a two-person video share it.
    video_path : pathlib.Path or None
        The video file (or, for AFEW-VA, the folder of frame images); None if not found.
    split : str
        ``"train"``, ``"val"`` or ``"test"`` (AFEW-VA without a split file: ``"train"``).
    subject : str
        Which face the labels are about: ``"main"``, ``"left"`` or ``"right"`` (the
        ``how`` of :func:`vafusion.faces.subjects.select_face`).
    labels : numpy.ndarray, shape (N, 2), float32, or None
        Valence (column 0) and arousal (column 1) per annotation row, row ``i`` = decoded
        frame ``i``; NaN where not annotated (Aff-Wild2's -5). None for test entries.
    annotation_path : pathlib.Path or None
        The annotation file.
    fps : float or None
        Frame rate when the layout states it (AFEW-VA: 25).
    layout : str
        ``"affwild2"``, ``"afew-va"`` or ``"csv"``.
    """

    name: str
    video: str
    video_path: Path | None
    split: str
    subject: str = "main"
    labels: np.ndarray | None = None
    annotation_path: Path | None = None
    fps: float | None = None
    layout: str = ""

    @property
    def n_labels(self) -> int:
        """Number of annotation rows (0 for test entries)."""
        return 0 if self.labels is None else int(len(self.labels))

    @property
    def n_valid(self) -> int:
        """Rows where both valence and arousal are annotated."""
        if self.labels is None:
            return 0
        return int(np.isfinite(self.labels).all(axis=1).sum())


@dataclass
class Dataset:
    """A list of :class:`VideoEntry` with lookup by split and by name.

    Attributes
    ----------
    root : pathlib.Path
    layout : str
    items : list of VideoEntry
    warnings : list of str
        Non-fatal problems met while loading (duplicate video stems...).
    invalid : dict of str to str
        Only when loaded with ``strict=False``: annotation file -> one-line error, for
        files that could not be parsed (their entries are left out of ``items``).
    """

    root: Path
    layout: str
    items: list[VideoEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)

    def entries(self, split: str | None = None) -> list[VideoEntry]:
        """Entries of one split (``"train"``, ``"val"``, ``"test"``) or all (None)."""
        if split is not None and split not in SPLITS:
            raise AnnotationError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
        return [e for e in self.items if split is None or e.split == split]

    def splits(self) -> dict[str, int]:
        """``{split: number of entries}``."""
        out: dict[str, int] = {}
        for e in self.items:
            out[e.split] = out.get(e.split, 0) + 1
        return out

    def get(self, name: str) -> VideoEntry:
        """The entry called ``name``."""
        for e in self.items:
            if e.name == name:
                return e
        raise AnnotationError(f"no entry named {name!r} in the dataset", self.root)

    def videos(self) -> dict[str, Path | None]:
        """``{video stem: path}`` of the distinct videos (what to extract)."""
        out: dict[str, Path | None] = {}
        for e in self.items:
            if out.get(e.video) is None:
                out[e.video] = e.video_path
        return out

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[VideoEntry]:
        return iter(self.items)
