"""Score per-frame predictions against human valence/arousal labels.

``vafusion score PREDICTIONS LABELS --format affwild2|afewva|csv`` (and :func:`score`)
matches prediction files to label files by file stem, aligns them by frame index
(:func:`vafusion.datasets.reconcile.align_labels`: a small length difference is cut or
padded, a large one refuses the video) and reports, per video and pooled, the CCC
(:func:`vafusion.train.metrics.ccc`, the one implementation), Pearson r and RMSE of
valence and arousal. Pooled means ABAW's rule: all frames of all videos concatenated.

Predictions
    ``<stem>.csv`` written by ``vafusion predict`` (columns ``frame, face_id, valence,
    arousal``; with several faces the face with most valid rows is scored and a note says
    so), or Aff-Wild2 submission ``<stem>.txt`` (header ``valence,arousal``).
Labels
    ``affwild2``: ``<stem>.txt``, values in [-1, 1], -5 = unannotated (excluded);
    ``afewva``: ``<clip>.json`` with per-frame integers in [-10, 10] (divided by 10);
    ``csv``: ``<stem>.csv`` with columns ``frame, valence, arousal``.
Frames whose label or prediction is missing are excluded from every metric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vafusion.errors import AnnotationError, ConfigError, VafusionError

FORMATS = ("affwild2", "afewva", "csv")
_LABEL_EXT = {"affwild2": ".txt", "afewva": ".json", "csv": ".csv"}
DIMS = ("valence", "arousal")


@dataclass
class ScoreReport:
    """Result of :func:`score`.

    Attributes
    ----------
    videos : list of dict
        Per video: ``video, frames, scored_frames, length_diff`` and
        ``ccc_/pearson_/rmse_`` + ``valence|arousal``.
    pooled : dict
        The same metrics over all scored frames concatenated (ABAW rule).
    missing_predictions, missing_labels : list of str
        Stems with a label but no prediction, and the reverse.
    errors : list of str
        One line per refused video (unreadable file, lengths too different).
    notes : list of str
    """

    videos: list[dict[str, Any]] = field(default_factory=list)
    pooled: dict[str, Any] = field(default_factory=dict)
    missing_predictions: list[str] = field(default_factory=list)
    missing_labels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a dict (NaN kept; :func:`vafusion.fileio.json_text` writes null)."""
        return dict(self.__dict__)


def metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """CCC, Pearson r and RMSE per dimension over frames where both are valid.

    Parameters
    ----------
    pred, true : numpy.ndarray, shape (N, 2)
        Valence, arousal; NaN (or -5 in ``true``) marks a frame to skip.

    Returns
    -------
    dict
        ``ccc_valence, pearson_valence, rmse_valence`` and the same for arousal; NaN when
        fewer than 2 frames are usable (Pearson also when a series is constant).
    """
    from vafusion.train.metrics import ccc, valid_label_mask

    out: dict[str, float] = {}
    for d, dim in enumerate(DIMS):
        x, y = np.asarray(pred[:, d], np.float64), np.asarray(true[:, d], np.float64)
        keep = valid_label_mask(y) & np.isfinite(x)
        x, y = x[keep], y[keep]
        enough = len(x) >= 2
        out[f"ccc_{dim}"] = ccc(x, y) if enough else float("nan")
        sx, sy = (x.std(), y.std()) if enough else (0.0, 0.0)
        r = float(np.corrcoef(x, y)[0, 1]) if enough and sx > 0 and sy > 0 else float("nan")
        out[f"pearson_{dim}"] = r
        out[f"rmse_{dim}"] = float(np.sqrt(np.mean((x - y) ** 2))) if enough else float("nan")
    return out


def read_labels(path: Path, fmt: str) -> np.ndarray:
    """(N, 2) float32 labels on -1..1 (NaN = unannotated) from one label file."""
    from vafusion.datasets.annotations import parse_va_csv, parse_va_txt
    from vafusion.datasets.layouts import _afew_clip_labels

    if fmt == "affwild2":
        return parse_va_txt(path)
    if fmt == "afewva":
        return _afew_clip_labels(path.parent, path, 0)
    return parse_va_csv(path)


def read_predictions(path: Path) -> tuple[np.ndarray, str | None]:
    """(N, 2) predictions indexed by frame from a predict CSV or an Aff-Wild2 txt.

    Returns
    -------
    values : numpy.ndarray, shape (N, 2), float64
    note : str or None
        Set when the file held several faces and one was chosen.
    """
    import pandas as pd

    from vafusion.datasets.annotations import parse_va_txt

    if path.suffix.lower() == ".txt":
        return parse_va_txt(path).astype(np.float64), None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise AnnotationError(f"cannot read predictions: {exc}", path) from None
    missing = [c for c in ("frame", *DIMS) if c not in df.columns]
    if missing:
        raise AnnotationError(f"prediction CSV lacks column(s) {', '.join(missing)}", path)
    note = None
    if "face_id" in df.columns and df["face_id"].nunique() > 1:
        counts = df.dropna(subset=list(DIMS)).groupby("face_id").size()
        fid = int(counts.idxmax()) if len(counts) else int(df["face_id"].iloc[0])
        note = f"{path.name}: several faces, scored face_id {fid} (most valid rows)"
        df = df[df["face_id"] == fid]
    frames = df["frame"].to_numpy(dtype=np.int64)
    if len(frames) == 0:
        raise AnnotationError("prediction file has no rows", path)
    if len(np.unique(frames)) != len(frames) or frames.min() < 0:
        raise AnnotationError("prediction frames repeated or negative", path)
    out = np.full((int(frames.max()) + 1, 2), np.nan)
    out[frames] = df[list(DIMS)].to_numpy(dtype=np.float64)
    return out, note


def _files(root: Path, exts: tuple[str, ...]) -> dict[str, Path]:
    if root.is_file():
        return {root.stem: root}
    if not root.is_dir():
        raise ConfigError(f"{root}: no such file or folder")
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in exts:
            found.setdefault(p.stem, p)
    return found


def score(
    predictions: str | os.PathLike,
    labels: str | os.PathLike,
    fmt: str = "affwild2",
) -> ScoreReport:
    """Score prediction files against label files matched by stem.

    Parameters
    ----------
    predictions : path
        A folder of ``vafusion predict`` CSVs (or Aff-Wild2 txt predictions), or one file.
    labels : path
        A folder (searched recursively) or one label file.
    fmt : {"affwild2", "afewva", "csv"}

    Returns
    -------
    ScoreReport

    Raises
    ------
    ConfigError
        Unknown format, or no prediction/label pair matched at all.
    """
    from vafusion.datasets.reconcile import align_labels

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    pred_files = _files(Path(predictions), (".csv", ".txt"))
    label_files = _files(Path(labels), (_LABEL_EXT[fmt],))
    if fmt == "afewva" and Path(labels).is_dir():  # only <clip>/<clip>.json annotate clips
        label_files = {k: p for k, p in label_files.items() if p.parent.name == k}
    rep = ScoreReport()
    rep.missing_predictions = sorted(set(label_files) - set(pred_files))
    rep.missing_labels = sorted(set(pred_files) - set(label_files))
    pooled_p, pooled_t = [], []
    for stem in sorted(set(label_files) & set(pred_files)):
        try:
            raw = read_labels(label_files[stem], fmt)
            pred, note = read_predictions(pred_files[stem])
            if note:
                rep.notes.append(note)
            true = align_labels(raw, len(pred), name=label_files[stem])
        except VafusionError as exc:
            rep.errors.append(str(exc))
            continue
        row = {
            "video": stem,
            "frames": len(pred),
            "length_diff": int(len(raw) - len(pred)),
        }
        row["scored_frames"] = int((np.isfinite(pred).all(1) & np.isfinite(true).all(1)).sum())
        row.update(metrics(pred, true))
        rep.videos.append(row)
        pooled_p.append(pred)
        pooled_t.append(true)
    if not rep.videos and not rep.errors:
        raise ConfigError(
            f"no prediction file in {predictions} matches a {fmt} label file in {labels} by stem"
        )
    if pooled_p:
        p, t = np.concatenate(pooled_p), np.concatenate(pooled_t)
        rep.pooled = {
            "videos": len(pooled_p),
            "frames": len(p),
            "scored_frames": int((np.isfinite(p).all(1) & np.isfinite(t).all(1)).sum()),
            **metrics(p, t),
        }
    return rep


def write_report(rep: ScoreReport, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``scores.csv`` (per video, then a ``POOLED`` row) and ``scores.json``."""
    import pandas as pd

    from vafusion.fileio import atomic_write_text, json_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [*rep.videos, {"video": "POOLED", **rep.pooled}] if rep.pooled else rep.videos
    paths = {"csv": out / "scores.csv", "json": out / "scores.json"}
    atomic_write_text(paths["csv"], pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
    atomic_write_text(paths["json"], json_text(rep.to_dict()))
    return paths


def format_report(rep: ScoreReport) -> str:
    """Human-readable table of a :class:`ScoreReport`."""
    head = f"{'video':<28}{'frames':>8}{'CCC v':>8}{'CCC a':>8}{'r v':>8}{'r a':>8}"
    head += f"{'RMSE v':>8}{'RMSE a':>8}"
    lines = [head]
    rows = [*rep.videos, {"video": "POOLED (ABAW)", **rep.pooled}] if rep.pooled else rep.videos
    for r in rows:
        cells = [r[f"{m}_{d}"] for m in ("ccc", "pearson", "rmse") for d in DIMS]
        lines.append(
            f"{str(r['video'])[:27]:<28}{r['scored_frames']:>8}"
            + "".join(f"{c:>8.3f}" for c in cells)
        )
    for what, names in (
        ("no prediction for label", rep.missing_predictions),
        ("no label for prediction", rep.missing_labels),
    ):
        if names:
            lines.append(f"{what} ({len(names)}): {', '.join(names[:10])}")
    lines += [f"refused: {e}" for e in rep.errors] + [f"note: {n}" for n in rep.notes]
    return "\n".join(lines)
