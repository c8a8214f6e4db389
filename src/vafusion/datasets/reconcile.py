"""Frame reconciliation: annotation rows vs decoded video frames.

Annotation row ``i`` belongs to decoded frame ``i`` (alignment by frame index, both from
the start of the video). When the counts differ by at most the tolerance, labels are cut
(extra annotation rows dropped) or padded with NaN (frames without a row are unannotated);
beyond it the video is refused with a clear :class:`~vafusion.errors.AnnotationError`,
because a large difference means the annotation does not belong to this decoding of the
video (wrong file, different release, frames dropped at the start) and index alignment
would silently shift every label.

Default tolerance: ``max(5 frames, 1 % of the decoded frames)``. Aff-Wild2's annotation
files commonly differ from FFmpeg's decoded count by 1-3 frames (the paper hit this); 5
frames is 0.2 s at 25 fps. The 1 % term keeps long videos whose container ends in a few
undecodable frames usable, while still refusing e.g. a 30 % shorter annotation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vafusion.datasets.layouts import IMAGE_EXTENSIONS
from vafusion.datasets.types import Dataset, VideoEntry
from vafusion.errors import AnnotationError, VafusionError


@dataclass(frozen=True)
class Tolerance:
    """Largest accepted ``|annotation rows - decoded frames|``: ``max(frames, fraction*n)``.

    Attributes
    ----------
    frames : int, default 5
    fraction : float, default 0.01
    """

    frames: int = 5
    fraction: float = 0.01

    def allowed(self, n_frames: int) -> int:
        """Accepted difference for a video of ``n_frames`` decoded frames."""
        return max(int(self.frames), int(math.floor(self.fraction * n_frames)))


@dataclass(frozen=True)
class Reconciliation:
    """One row of the reconciliation table.

    Attributes
    ----------
    name, video : str
    split : str
    n_labels : int
        Annotation rows (0 for test entries).
    n_frames : int or None
        Decoded frames (None: unknown, e.g. video missing).
    diff : int or None
        ``n_labels - n_frames``.
    status : str
        ``"ok"`` (equal), ``"trim"`` (extra rows dropped), ``"pad"`` (missing rows -> NaN),
        ``"refused"`` (beyond tolerance), ``"no-video"``, ``"unreadable"``, ``"test"``.
    message : str
    """

    name: str
    video: str
    split: str
    n_labels: int
    n_frames: int | None
    diff: int | None
    status: str
    message: str = ""

    def to_dict(self) -> dict:
        """JSON-compatible dict."""
        return asdict(self)


def align_labels(
    labels: np.ndarray,
    n_frames: int,
    tolerance: Tolerance = Tolerance(),
    *,
    name: str | Path | None = None,
) -> np.ndarray:
    """Align annotation rows to ``n_frames`` decoded frames by frame index.

    Parameters
    ----------
    labels : numpy.ndarray, shape (M, 2)
    n_frames : int
    tolerance : Tolerance

    Returns
    -------
    numpy.ndarray, shape (n_frames, 2), float32
        ``labels[:n_frames]``, padded with NaN when ``M < n_frames``.

    Raises
    ------
    AnnotationError
        If ``|M - n_frames|`` exceeds the tolerance.
    """
    m = len(labels)
    diff = m - n_frames
    if abs(diff) > tolerance.allowed(n_frames):
        raise AnnotationError(
            f"{m} annotation rows but {n_frames} decoded frames (difference {diff:+d} > "
            f"tolerance {tolerance.allowed(n_frames)}); refusing to align by frame index",
            name,
        )
    out = np.full((n_frames, 2), np.nan, dtype=np.float32)
    k = min(m, n_frames)
    out[:k] = labels[:k]
    return out


def count_frames(entry: VideoEntry, store=None, probe: bool = True, worker=None) -> int | None:
    """Decoded frame count of an entry's video: from the store's recorded video info, else
    by counting images (AFEW-VA folders), else by decoding (``probe``; in ``worker``, an
    :class:`~vafusion.isolation.IsolatedWorker`, when given); None if unknown."""
    if store is not None:
        info = store.video_info(entry.video)
        if info and info.get("n_frames"):
            return int(info["n_frames"])
    path = entry.video_path
    if path is None:
        return None
    if Path(path).is_dir():
        return sum(1 for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not probe:
        return None
    from vafusion.io.media import probe as probe_video

    if worker is not None:  # a native crash on this file fails it alone
        return worker.call(probe_video, path, label=str(path)).n_frames
    return probe_video(path).n_frames


def reconcile_entry(
    entry: VideoEntry,
    n_frames: int | None,
    tolerance: Tolerance = Tolerance(),
) -> Reconciliation:
    """Compare one entry's annotation rows with ``n_frames`` decoded frames."""
    base = dict(name=entry.name, video=entry.video, split=entry.split, n_labels=entry.n_labels)
    if entry.labels is None:
        return Reconciliation(**base, n_frames=n_frames, diff=None, status="test")
    if n_frames is None:
        msg = "video not found" if entry.video_path is None else "frame count unknown"
        return Reconciliation(**base, n_frames=None, diff=None, status="no-video", message=msg)
    diff = entry.n_labels - n_frames
    allowed = tolerance.allowed(n_frames)
    if diff == 0:
        status, msg = "ok", ""
    elif abs(diff) > allowed:
        status, msg = "refused", f"|{diff:+d}| > tolerance {allowed}"
    elif diff > 0:
        status, msg = "trim", f"last {diff} annotation rows dropped"
    else:
        status, msg = "pad", f"last {-diff} frames unannotated (NaN)"
    return Reconciliation(**base, n_frames=n_frames, diff=diff, status=status, message=msg)


def reconcile(
    dataset: Dataset,
    store=None,
    tolerance: Tolerance = Tolerance(),
    *,
    probe: bool = True,
    split: str | None = None,
) -> list[Reconciliation]:
    """Reconciliation table of a dataset (one row per entry).

    Parameters
    ----------
    dataset : Dataset
    store : FeatureStore, optional
        Frame counts recorded at extraction are used when present (no decoding).
    tolerance : Tolerance
    probe : bool, default True
        Decode videos not in the store to count their frames (slow for big datasets).
    split : str, optional
        Only this split.
    """
    from vafusion.isolation import IsolatedWorker

    counts: dict[str, int | None] = {}
    errors: dict[str, str] = {}
    rows = []
    with IsolatedWorker(enabled=probe) as worker:
        for e in dataset.entries(split):
            if e.video not in counts:
                try:
                    counts[e.video] = count_frames(e, store, probe, worker if probe else None)
                except VafusionError as exc:
                    counts[e.video] = None
                    errors[e.video] = exc.message
            r = reconcile_entry(e, counts[e.video], tolerance)
            if e.video in errors and e.labels is not None:
                r = Reconciliation(
                    e.name, e.video, e.split, e.n_labels, None, None, "unreadable", errors[e.video]
                )
            rows.append(r)
    return rows
