"""A frame consumer keeping every tracked face's box (for thumbnails and overlays).

Both predict models run it next to their feature sets in the same
:meth:`vafusion.extraction.Pipeline.process` pass (``extra=[BoxRecorder()]``), so boxes come
from the same tracker and the same frames as the features.
"""

from __future__ import annotations

import numpy as np

from vafusion.features.base import Accumulator, FeatureTable
from vafusion.io.media import VideoFrame, VideoInfo


class BoxRecorder(Accumulator):
    """Per-video accumulator recording ``x0, y0, x1, y1`` of every face in every frame.

    Its table (name ``_boxes``) is long form with one row per face per frame (frames
    without a face have no row) and ``meta["timestamps"]``: the time of every decoded
    frame.
    """

    name = "_boxes"
    needs_faces = True
    columns = ["x0", "y0", "x1", "y1"]

    def __init__(self) -> None:
        self.rows: list[tuple[int, int, np.ndarray]] = []

    def push(self, frame: VideoFrame, faces: list) -> None:
        """Record the boxes of one frame's faces (original-frame pixels)."""
        for f in faces:
            self.rows.append((frame.index, int(f.face_id), np.asarray(f.bbox, np.float32)))

    def finish(self, info: VideoInfo, timestamps: np.ndarray) -> FeatureTable:
        """The long-form box table of the video."""
        n = len(self.rows)
        ts = np.asarray(timestamps, dtype=np.float64)
        frame = np.array([r[0] for r in self.rows], np.int64)
        return FeatureTable(
            name=self.name,
            frame=frame,
            timestamp=ts[frame] if n else np.zeros(0),
            values=np.stack([r[2] for r in self.rows]) if n else np.zeros((0, 4), np.float32),
            columns=list(self.columns),
            valid=np.ones(n, bool),
            face_id=np.array([r[1] for r in self.rows], np.int64),
            meta={"timestamps": ts},
        )


def dense_boxes(table: FeatureTable, face_id: int | None, n_frames: int) -> np.ndarray:
    """Per-frame box of one track: shape (n_frames, 4), float32, NaN where not seen."""
    bbox = np.full((n_frames, 4), np.nan, np.float32)
    if face_id is not None:
        rows = table.face_id == face_id
        bbox[table.frame[rows]] = table.values[rows]
    return bbox
