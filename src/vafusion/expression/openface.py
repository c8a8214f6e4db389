"""Import OpenFace 2.x ``FeatureExtraction`` CSVs as the ``facepose`` feature set.

So users can reproduce the paper with real OpenFace output. Both layouts are read:

* **OpenFace 2.0**: ``frame, timestamp, confidence, success, gaze_*, pose_*, x_*, y_*,
  X_*, Y_*, Z_*, p_*, AUxx_r, AUxx_c`` (no ``face_id``, ``gaze_angle_*``, ``eye_lmk_*``).
* **OpenFace 2.2**: adds ``face_id``, ``gaze_angle_x/y`` and ``eye_lmk_*`` (56 eye-region
  points), and writes a space after each comma.

Any subset of column groups (OpenFace's ``-pose``, ``-aus``, ``-2Dfp`` ... flags) is
accepted; the table keeps the OpenFace columns present, in OpenFace's order
(:func:`openface_columns`), with OpenFace's own names (the same names the ``facepose``
extractor uses for the same quantities: ``pose_Tx``, ``gaze_0_x``, ``x_0``, ``AU01_r``...).

Alignment: OpenFace's ``frame`` is 1-based, so ``frame = k`` is decoded frame ``k - 1``.
Rows are placed by frame number, never by position. Rows with ``success == 0`` are frames
where tracking failed: NaN values and ``valid = False`` (never zeros). The result is in
long form like the ``facepose`` extractor's (one row per frame per face; a frame without a
row has one invalid row with ``face_id = -1``). A CSV whose frame count differs from the
video's is reported; beyond ``tolerance`` frames it is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vafusion.errors import AnnotationError
from vafusion.features.base import FeatureTable
from vafusion.fileio import file_sha256
from vafusion.log import get_logger

log = get_logger("openface")

#: Action units with intensities (``AUxx_r``), OpenFace order.
AU_INTENSITY = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)  # fmt: skip
#: Action units with presence (``AUxx_c``), OpenFace order (adds AU28).
AU_PRESENCE = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU28", "AU45",
)  # fmt: skip
#: Identification columns (not features).
ID_COLUMNS = ("frame", "face_id", "timestamp")
#: Default tolerated difference between CSV and video frame counts.
DEFAULT_TOLERANCE = 5


def openface_columns() -> list[str]:
    """Every OpenFace 2.2 feature column in OpenFace's order (711 = 714 minus the ids).

    ``confidence, success``; ``gaze_0_x..gaze_1_z, gaze_angle_x/y``; ``eye_lmk_x/y_0..55``,
    ``eye_lmk_X/Y/Z_0..55``; ``pose_Tx..pose_Rz``; ``x_/y_/X_/Y_/Z_0..67``; ``p_scale, p_rx,
    p_ry, p_rz, p_tx, p_ty, p_0..p_33``; 17 ``AUxx_r``; 18 ``AUxx_c``.
    """
    cols = ["confidence", "success"]
    cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    cols += [f"eye_lmk_{a}_{i}" for a in ("x", "y", "X", "Y", "Z") for i in range(56)]
    cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    cols += [f"{a}_{i}" for a in ("x", "y", "X", "Y", "Z") for i in range(68)]
    cols += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)]
    cols += [f"{au}_r" for au in AU_INTENSITY] + [f"{au}_c" for au in AU_PRESENCE]
    return cols


_ORDER = {c: i for i, c in enumerate(openface_columns())}


def read_openface_csv(path: str | os.PathLike) -> Any:
    """Read one OpenFace CSV (2.0 or 2.2 layout) into a DataFrame.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    pandas.DataFrame
        Header names stripped of spaces, every column numeric (float64; ``frame`` and
        ``face_id`` int64; ``face_id`` 0 added when absent), rows as in the file;
        ``df.attrs["openface_layout"]`` is ``"2.0"`` or ``"2.2"`` (from the original header).

    Raises
    ------
    AnnotationError
        Missing/unreadable file, no ``frame`` column, non-numeric cells, frame numbers
        below 1, or a repeated (frame, face_id) pair.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise AnnotationError("OpenFace CSV not found", path)
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise AnnotationError(f"not a readable CSV ({str(exc).splitlines()[0]})", path) from None
    df.columns = [str(c).strip() for c in df.columns]
    if "frame" not in df.columns:
        raise AnnotationError(
            "no 'frame' column: not an OpenFace FeatureExtraction CSV "
            f"(columns start {', '.join(df.columns[:4])})",
            path,
        )
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise AnnotationError(f"non-numeric values in column(s) {', '.join(bad[:5])}", path)
    df = df.astype({c: np.float64 for c in df.columns if c not in ("frame", "face_id")})
    frame = df["frame"].to_numpy(dtype=np.float64)
    # beyond 2**53 a float is no exact frame number, and int64 conversion would overflow
    if not (np.isfinite(frame) & (frame >= 1) & (frame <= 2**53)).all():
        raise AnnotationError("'frame' must hold 1-based frame numbers (>= 1)", path)
    _drop_unrepresentable(df, path)
    layout = openface_layout(df.columns)
    df = df.copy()  # de-fragment before adding columns
    df["frame"] = df["frame"].astype(np.int64)
    if "face_id" not in df.columns:
        df.insert(1, "face_id", 0)
    df["face_id"] = df["face_id"].fillna(0).astype(np.int64)
    dup = df.duplicated(["frame", "face_id"])
    if dup.any():
        row = df[dup].iloc[0]
        raise AnnotationError(
            f"frame {int(row['frame'])} of face {int(row['face_id'])} appears twice "
            f"({int(dup.sum())} repeated rows)",
            path,
        )
    df.attrs["openface_layout"] = layout
    return df


def _drop_unrepresentable(df: Any, path: Path) -> None:
    """Infinite values, and finite ones beyond float32 (1e308: stored as float32 they
    become infinite), are not measurements: NaN, with a warning naming the CSV lines."""
    feats = [c for c in df.columns if c not in ID_COLUMNS]
    if not feats:
        return
    arr = df[feats].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(arr) | (np.abs(arr) > np.finfo(np.float32).max)
    if not bad.any():
        return
    lines = np.flatnonzero(bad.any(axis=1)) + 2  # 1-based, after the header line
    cols = [feats[j] for j in np.flatnonzero(bad.any(axis=0))]
    shown = ", ".join(map(str, lines[:10])) + (
        f" and {len(lines) - 10} more" if len(lines) > 10 else ""
    )
    log.warning(
        "%s: %d infinite or out-of-range value(s) (beyond float32) on CSV line(s) %s, in "
        "column(s) %s: stored as NaN (missing)",
        path, int(bad.sum()), shown, ", ".join(cols[:5]) + (" ..." if len(cols) > 5 else ""),
    )  # fmt: skip
    df[feats] = np.where(bad, np.nan, arr)


def openface_layout(columns: Sequence[str]) -> str:
    """``"2.2"`` when the 2.2-only columns are present, else ``"2.0"``."""
    cols = set(columns)
    newer = {"face_id", "gaze_angle_x", "eye_lmk_x_0"}
    return "2.2" if cols & newer else "2.0"


def openface_hash(csv_paths: Sequence[str | os.PathLike], tolerance: int) -> str:
    """Short hash keying an import in the feature store (the CSVs' bytes + settings)."""
    payload = {
        "source": "openface",
        "csv_sha256": [file_sha256(Path(p)) for p in csv_paths],
        "tolerance": tolerance,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]


def _video_axis(video: str | os.PathLike | int, timestamps: np.ndarray | None, frames_seen):
    """(n_frames, timestamps, video label) from a video path or a frame count."""
    if isinstance(video, (int, np.integer)) and not isinstance(video, bool):
        n = int(video)
        if n < 0:
            raise AnnotationError(f"frame count must be >= 0, got {n}")
        if timestamps is None:
            timestamps = frames_seen(n)
        return n, np.asarray(timestamps, dtype=np.float64), None
    from vafusion.io.media import scan

    info, ts = scan(video)
    return info.n_frames, np.asarray(ts, dtype=np.float64), str(video)


def _csv_timestamps(frames: np.ndarray, times: np.ndarray):
    """A function n -> (n,) timestamps from the CSV's own (frame, timestamp) pairs."""

    def make(n: int) -> np.ndarray:
        ok = np.isfinite(times)
        if ok.sum() >= 2:
            slope, icpt = np.polyfit(frames[ok] - 1, times[ok], 1)
            if slope > 0:
                return icpt + slope * np.arange(n)
        return np.arange(n) / 25.0  # no usable timestamps: assume 25 fps

    return make


def import_openface(
    csv_paths: str | os.PathLike | Sequence[str | os.PathLike],
    video: str | os.PathLike | int,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    timestamps: np.ndarray | None = None,
) -> FeatureTable:
    """OpenFace CSV(s) of one video as a long-form ``facepose`` table on its frame axis.

    Parameters
    ----------
    csv_paths : path or sequence of paths
        One CSV, or several for the same video (e.g. one per person): ids of a later file
        that clash with an earlier file's are shifted past them (see
        ``meta["face_id_offsets"]``).
    video : path or int
        The video (decoded once to count its frames and read their timestamps), or its
        number of decoded frames.
    tolerance : int
        Largest accepted ``|CSV frames - video frames|``; the CSV's frame count is its
        largest ``frame`` number.
    timestamps : numpy.ndarray, shape (n_frames,), optional
        Frame times when ``video`` is a count (default: fitted to the CSV's timestamps).

    Returns
    -------
    FeatureTable
        ``name="facepose"``, long form (see module docstring), columns = the OpenFace
        columns present (OpenFace order), ``meta["source"] = "openface"``,
        ``meta["frame_mismatch"]`` = CSV frames - video frames, ``meta["valid_column"] =
        "face_valid"``.

    Raises
    ------
    AnnotationError
        Unreadable CSV, or a frame-count difference above ``tolerance`` (naming the file).
    """
    if isinstance(csv_paths, (str, os.PathLike)):
        csv_paths = [csv_paths]
    paths = [Path(p) for p in csv_paths]
    if not paths:
        raise AnnotationError("no OpenFace CSV given")
    frames_l, fids_l, frames_csv, times_csv = [], [], [], []
    dfs, offsets, present = [], [], set()
    used_ids: set[int] = set()
    for p in paths:
        df = read_openface_csv(p)
        ids = set(df["face_id"].unique().tolist())
        offset = (max(used_ids) + 1) if used_ids & ids else 0
        used_ids |= {i + offset for i in ids}
        offsets.append(offset)
        dfs.append(df)
        present |= set(df.columns) & set(_ORDER)
        frames_csv.append(df["frame"].to_numpy())
        no_times = np.full(len(df), np.nan)
        times_csv.append(df["timestamp"].to_numpy() if "timestamp" in df else no_times)
    columns = sorted(present, key=_ORDER.__getitem__)
    if not set(columns) - {"confidence", "success"}:
        raise AnnotationError(
            "no OpenFace feature column found (only frame/face_id/timestamp/confidence/"
            "success: gaze, pose, landmarks or AU columns are needed)",
            paths[0],
        )
    all_frames = np.concatenate(frames_csv)
    n, ts, video_label = _video_axis(
        video, timestamps, _csv_timestamps(all_frames, np.concatenate(times_csv))
    )
    if len(ts) != n:
        raise AnnotationError(f"timestamps has {len(ts)} entries for {n} frames")

    values_l = []
    mismatch = {}
    for p, df, offset in zip(paths, dfs, offsets, strict=True):
        n_csv = int(df["frame"].max()) if len(df) else 0
        diff = n_csv - n
        mismatch[str(p)] = diff
        where = f"{n_csv} frames in the CSV vs {n} decoded frames in the video"
        if abs(diff) > tolerance:
            raise AnnotationError(
                f"{where}: difference {diff:+d} exceeds the tolerance of {tolerance} "
                "(wrong video for this CSV?)",
                p,
            )
        if diff:
            log.warning("%s: %s (%+d, within tolerance %d); aligned by frame number",
                        p, where, diff, tolerance)  # fmt: skip
        idx = df["frame"].to_numpy() - 1
        keep = idx < n
        sub = df[keep]
        vals = np.full((len(sub), len(columns)), np.nan, dtype=np.float32)
        for j, c in enumerate(columns):
            if c in sub.columns:
                vals[:, j] = sub[c].to_numpy(dtype=np.float32)
        ok = sub["success"].to_numpy() > 0 if "success" in sub.columns else np.ones(len(sub), bool)
        vals[~ok] = np.nan
        frames_l.append(idx[keep])
        fids_l.append(sub["face_id"].to_numpy() + offset)
        values_l.append((vals, ok))

    frame = np.concatenate(frames_l).astype(np.int64)
    fid = np.concatenate(fids_l).astype(np.int64)
    values = np.concatenate([v for v, _ in values_l]) if values_l else np.zeros((0, len(columns)))
    valid = np.concatenate([ok for _, ok in values_l]) if values_l else np.zeros(0, bool)
    covered = np.zeros(n, dtype=bool)
    covered[frame] = True
    empty = np.flatnonzero(~covered)
    frame = np.concatenate([frame, empty])
    fid = np.concatenate([fid, np.full(len(empty), -1, np.int64)])
    values = np.concatenate([values, np.full((len(empty), len(columns)), np.nan, np.float32)])
    valid = np.concatenate([valid, np.zeros(len(empty), bool)])
    order = np.lexsort((fid, frame))
    frame, fid, values, valid = frame[order], fid[order], values[order], valid[order]
    fails = int(((fid >= 0) & ~valid).sum())
    if fails:
        log.info("%s: %d face rows with success == 0 marked invalid", paths[0], fails)
    meta = {
        "source": "openface",
        "openface_layout": "2.2"
        if any(d.attrs["openface_layout"] == "2.2" for d in dfs)
        else "2.0",
        "csv": [str(p) for p in paths],
        "video": video_label,
        "valid_column": "face_valid",
        "n_frames": n,
        "frame_mismatch": mismatch,
        "face_id_offsets": offsets,
        "n_failed_rows": fails,
        "tolerance": tolerance,
        "tracks": _tracks(frame, fid, values, valid, columns),
        "config_hash": openface_hash(paths, tolerance),
    }
    return FeatureTable(
        name="facepose",
        frame=frame,
        timestamp=ts[frame] if n else np.zeros(0),
        values=values,
        columns=columns,
        valid=valid,
        face_id=fid,
        meta=meta,
    )


def _tracks(frame, fid, values, valid, columns) -> list[dict]:
    """Per-face summaries for subject selection (area/centre from the 2-D landmarks)."""
    xs = [j for j, c in enumerate(columns) if re.fullmatch(r"x_\d+", c)]
    ys = [j for j, c in enumerate(columns) if re.fullmatch(r"y_\d+", c)]
    out = []
    for k in sorted(set(fid[fid >= 0].tolist())):
        rows = np.flatnonzero((fid == k) & valid)
        if len(rows) == 0:
            continue
        t: dict[str, Any] = {
            "face_id": int(k),
            "frames": len(rows),
            "first_frame": int(frame[rows[0]]),
            "last_frame": int(frame[rows[-1]]),
        }
        if xs and ys:
            x, y = values[np.ix_(rows, xs)], values[np.ix_(rows, ys)]
            w = np.nanmax(x, 1) - np.nanmin(x, 1)
            h = np.nanmax(y, 1) - np.nanmin(y, 1)
            t["mean_area"] = float(np.nanmean(w * h))
            t["mean_cx"] = float(np.nanmean((np.nanmax(x, 1) + np.nanmin(x, 1)) / 2))
            t["mean_cy"] = float(np.nanmean((np.nanmax(y, 1) + np.nanmin(y, 1)) / 2))
        out.append(t)
    return out
