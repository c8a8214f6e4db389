"""Dataset layouts: Aff-Wild2 (VA track), AFEW-VA and a generic CSV listing.

All loaders return a :class:`~vafusion.datasets.types.Dataset`; :func:`load_dataset`
detects the layout.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np

from vafusion.datasets.annotations import parse_va_csv, parse_va_txt, read_name_list
from vafusion.datasets.types import Dataset, VideoEntry
from vafusion.errors import AnnotationError
from vafusion.log import get_logger

log = get_logger("datasets")

#: file extensions recognised as videos when searching a dataset root
VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
)  # fmt: skip
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
_SPLIT_DIRS = {"train_set": "train", "validation_set": "val", "test_set": "test"}
_SUBJECT_RE = re.compile(r"^(?P<video>.+)_(?P<subject>left|right)$")


def find_videos(root: str | os.PathLike) -> tuple[dict[str, Path], list[str]]:
    """Map video stem -> path for every video file under ``root`` (recursive).

    Returns
    -------
    videos : dict of str to pathlib.Path
    warnings : list of str
        One per duplicated stem (the first path in sorted order is kept).
    """
    out: dict[str, Path] = {}
    warnings = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if p.suffix.lower() in VIDEO_EXTENSIONS and not f.startswith("."):
                if p.stem in out:
                    warnings.append(f"video {p.stem!r} found twice: using {out[p.stem]}, not {p}")
                    continue
                out[p.stem] = p
    return out, warnings


def split_subject(name: str) -> tuple[str, str]:
    """``"10-60-1280x720_left"`` -> ``("10-60-1280x720", "left")``; else ``(name, "main")``."""
    m = _SUBJECT_RE.match(name)
    return (m["video"], m["subject"]) if m else (name, "main")


def _find_va_dir(root: Path) -> Path | None:
    direct = root / "Annotations" / "VA_Estimation_Challenge"
    if direct.is_dir():
        return direct
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            if d.lower() in ("va_estimation_challenge", "va_set"):
                return Path(dirpath) / d
        if any(d.lower() in _SPLIT_DIRS for d in dirnames):
            return Path(dirpath)
    return None


def load_affwild2(
    root: str | os.PathLike, *, test_lists: list[str] | None = None, strict: bool = True
) -> Dataset:
    """Load the Aff-Wild2 valence-arousal layout.

    Videos are found anywhere under ``root`` by stem. Annotations are
    ``.../VA_Estimation_Challenge/{Train_Set,Validation_Set}/<name>.txt`` (see
    :func:`~vafusion.datasets.annotations.parse_va_txt`); ``<name>_left`` / ``<name>_right``
    map to video ``<name>`` with subject ``"left"`` / ``"right"``. Test names come from
    ``Test_Set/*.txt`` files (labels ignored) and from name-list files (``*test*.txt``
    next to the split folders, or ``test_lists``), giving entries with ``labels=None``.

    With ``strict=False`` a malformed annotation file does not stop loading: it is left
    out and listed in ``Dataset.invalid`` (what ``vafusion datasets check`` reports).

    Raises
    ------
    AnnotationError
        No annotation folder, or (``strict=True``) a malformed annotation file.
    """
    root = Path(root)
    va_dir = _find_va_dir(root)
    if va_dir is None:
        raise AnnotationError(
            "no Aff-Wild2 annotations (Annotations/VA_Estimation_Challenge/Train_Set...)", root
        )
    videos, warnings = find_videos(root)
    ds = Dataset(root=root, layout="affwild2", warnings=warnings)

    def entry(name: str, split: str, labels, ann: Path | None) -> VideoEntry:
        video, subject = split_subject(name)
        if video not in videos and name in videos:
            video = name
        return VideoEntry(
            name=name,
            video=video,
            video_path=videos.get(video),
            split=split,
            subject=subject,
            labels=labels,
            annotation_path=ann,
            layout="affwild2",
        )

    for sub in sorted(va_dir.iterdir()):
        split = _SPLIT_DIRS.get(sub.name.lower())
        if split is None or not sub.is_dir():
            continue
        for f in sorted(sub.glob("*.txt")):
            try:
                labels = parse_va_txt(f) if split != "test" else None
            except AnnotationError as exc:
                if strict:
                    raise
                ds.invalid[str(f)] = exc.message
                continue
            ds.items.append(entry(f.stem, split, labels, f))
    lists = [Path(p) for p in (test_lists or [])]
    if not test_lists:
        lists = sorted(p for p in va_dir.glob("*.txt") if "test" in p.name.lower())
    known = {e.name for e in ds.items}
    for lst in lists:
        for name in read_name_list(lst):
            if name not in known:
                ds.items.append(entry(name, "test", None, None))
                known.add(name)
    if not ds.items and not ds.invalid:
        raise AnnotationError("no annotation files in Train_Set/Validation_Set", va_dir)
    return ds


def _afew_clip_labels(folder: Path, js: Path, n_images: int) -> np.ndarray:
    try:
        doc = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnnotationError(f"not valid JSON ({exc})", js) from None
    frames = doc.get("frames") if isinstance(doc, dict) else None
    if not isinstance(frames, dict) or not frames:
        raise AnnotationError("no 'frames' mapping", js)
    idx = {}
    for key, val in frames.items():
        try:
            i = int(key) - 1  # 1-based file numbers
            v, a = float(val["valence"]), float(val["arousal"])
        except (ValueError, TypeError, KeyError):
            raise AnnotationError(f"frame {key!r}: needs numeric valence and arousal", js) from None
        if i < 0:
            raise AnnotationError(f"frame {key!r}: frame numbers start at 1", js)
        if not (-10 <= v <= 10 and -10 <= a <= 10):
            raise AnnotationError(f"frame {key!r}: valence/arousal outside [-10, 10]", js)
        idx[i] = (v / 10.0, a / 10.0)
    n = max(n_images, max(idx) + 1)
    out = np.full((n, 2), np.nan, dtype=np.float32)
    for i, va in idx.items():
        out[i] = va
    return out


def _read_split_csv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    out = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = (row.get("name") or row.get("video") or row.get("clip") or "").strip()
            split = (row.get("split") or "").strip().lower()
            if name and split:
                out[name] = {"validation": "val", "valid": "val"}.get(split, split)
    return out


def load_afew_va(root: str | os.PathLike) -> Dataset:
    """Load AFEW-VA: one folder per clip with ``00001.png ...`` and ``<clip>.json``.

    Labels are the json's integers in [-10, 10] divided by 10 (frame ``00001`` -> row 0);
    frames without a label are NaN. There is no official split: every clip is ``"train"``
    unless ``root/splits.csv`` (columns ``name,split``) says otherwise. ``video_path`` is
    the clip folder (an image sequence at 25 fps, no audio; ``vafusion extract`` reads it).
    """
    root = Path(root)
    splits = _read_split_csv(root / "splits.csv")
    ds = Dataset(root=root, layout="afew-va")
    for js in sorted(root.rglob("*.json")):
        folder = js.parent
        if js.stem != folder.name:
            continue
        n_images = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        ds.items.append(
            VideoEntry(
                name=folder.name,
                video=folder.name,
                video_path=folder,
                split=splits.get(folder.name, "train"),
                subject="main",
                labels=_afew_clip_labels(folder, js, n_images),
                annotation_path=js,
                fps=25.0,
                layout="afew-va",
            )
        )
    if not ds.items:
        raise AnnotationError("no AFEW-VA clips (<clip>/<clip>.json) found", root)
    return ds


def load_csv_dataset(csv_path: str | os.PathLike) -> Dataset:
    """Load the generic layout: a CSV listing ``video,split,annotation`` per row.

    Optional columns: ``name`` (default: video stem, or ``<stem>_<subject>``), ``subject``
    (``main``/``left``/``right``/track id; default ``main``). Relative paths are relative
    to the CSV's folder. ``annotation`` (empty for test rows) is a CSV with columns
    ``frame,valence,arousal`` (see :func:`~vafusion.datasets.annotations.parse_va_csv`).
    """
    csv_path = Path(csv_path)
    base = csv_path.parent
    try:
        fh = csv_path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise AnnotationError(f"cannot read: {exc.strerror}", csv_path) from None
    ds = Dataset(root=base, layout="csv")
    with fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        for need in ("video", "split"):
            if need not in fields:
                raise AnnotationError(f"line 1: missing column {need!r}", csv_path)
        reader.fieldnames = fields
        names = set()
        for lineno, row in enumerate(reader, start=2):
            vp = (row.get("video") or "").strip()
            split = {"validation": "val", "valid": "val"}.get(
                (row.get("split") or "").strip().lower(), (row.get("split") or "").strip().lower()
            )
            if not vp:
                raise AnnotationError(f"line {lineno}: empty video path", csv_path)
            if split not in ("train", "val", "test"):
                raise AnnotationError(
                    f"line {lineno}: split {split!r} is not train, val or test", csv_path
                )
            video_path = (base / vp) if not Path(vp).is_absolute() else Path(vp)
            subject = (row.get("subject") or "").strip() or "main"
            stem = video_path.stem
            name = (row.get("name") or "").strip() or (
                stem if subject == "main" else f"{stem}_{subject}"
            )
            if name in names:
                raise AnnotationError(f"line {lineno}: duplicate entry name {name!r}", csv_path)
            names.add(name)
            ann = (row.get("annotation") or "").strip()
            ann_path = None if not ann else (base / ann if not Path(ann).is_absolute() else ann)
            labels = parse_va_csv(ann_path) if ann_path is not None else None
            if labels is None and split != "test":
                raise AnnotationError(f"line {lineno}: {split} entry without annotation", csv_path)
            ds.items.append(
                VideoEntry(
                    name=name,
                    video=stem,
                    video_path=video_path if video_path.exists() else None,
                    split=split,
                    subject=subject,
                    labels=labels,
                    annotation_path=Path(ann_path) if ann_path else None,
                    layout="csv",
                )
            )
    return ds


def detect_layout(root: str | os.PathLike) -> str:
    """``"csv"``, ``"affwild2"`` or ``"afew-va"`` for ``root`` (raises if none fits)."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "csv"
    if not root.is_dir():
        raise AnnotationError("dataset root not found", root)
    if (root / "dataset.csv").is_file():
        return "csv"
    if _find_va_dir(root) is not None:
        return "affwild2"
    for js in root.rglob("*.json"):
        if js.stem == js.parent.name:
            return "afew-va"
    raise AnnotationError(
        "cannot tell the dataset layout (no dataset.csv, no Aff-Wild2 Annotations folder, "
        "no AFEW-VA <clip>/<clip>.json)",
        root,
    )


def load_dataset(root: str | os.PathLike, layout: str = "auto", *, strict: bool = True) -> Dataset:
    """Load a dataset in any supported layout.

    Parameters
    ----------
    root : str or PathLike
        Dataset folder (or, for the CSV layout, the listing CSV itself or a folder with
        ``dataset.csv``).
    layout : {"auto", "affwild2", "afew-va", "csv"}
    strict : bool, default True
        False: malformed Aff-Wild2 annotation files are listed in ``Dataset.invalid``
        instead of raising (for checking a whole dataset in one go).

    Returns
    -------
    Dataset
        Use ``.entries("train")`` etc.
    """
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "affwild2":
        ds = load_affwild2(root, strict=strict)
    elif layout in ("afew-va", "afewva", "afew_va"):
        ds = load_afew_va(root)
    elif layout == "csv":
        ds = load_csv_dataset(root if root.is_file() else root / "dataset.csv")
    else:
        raise AnnotationError(f"unknown layout {layout!r}; one of affwild2, afew-va, csv")
    for w in ds.warnings:
        log.warning("%s", w)
    return ds
