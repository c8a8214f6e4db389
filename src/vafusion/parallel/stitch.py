"""Stitch tracked chunks back into one video: face ids, frame indices, video info.

Face ids
    Each chunk's tracker numbers its faces from 0. On the warm-up frames, which the
    previous chunk also tracked, a chunk face is given the id of the previous chunk's face
    whose boxes overlap it (IoU > ``min_iou``) on the most shared frames (with a frame
    stride the two chunks may analyse different frames: the previous chunk's nearest
    analysed frame within ``max_dt`` seconds stands in); a face with no
    such partner gets the next new id, in order of first appearance, as the sequential
    tracker would number it.
Frames
    Warm-up frames are dropped; the kept frames of chunk ``k`` get the indices that follow
    those of chunk ``k - 1``, so indices are 0..N-1 over the whole video, as in one pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from vafusion.faces.tracker import box_iou
from vafusion.faces.types import FaceObservation
from vafusion.io.media import VideoFrame, VideoInfo
from vafusion.parallel.chunks import Chunk, ChunkResult, FrameRecord

#: boxes of one face in the two chunks overlap at least this much on a shared frame
MIN_IOU = 0.5
#: farthest previous-chunk frame (seconds) compared with a warm-up frame
MAX_DT = 0.25


class Stitcher:
    """Turns chunk results, given in plan order, into one stream of frames and faces.

    Parameters
    ----------
    plan : sequence of Chunk
        The chunks, in time order.
    min_iou, max_dt : float
        See the module docstring.
    """

    def __init__(
        self, plan: Sequence[Chunk], min_iou: float = MIN_IOU, max_dt: float = MAX_DT
    ) -> None:
        self.plan = list(plan)
        self.min_iou = min_iou
        self.max_dt = max_dt
        self.next_id = 0
        self.n_frames = 0
        self.timestamps: list[float] = []
        self.infos: list[VideoInfo] = []
        self.id_maps: list[dict[int, int]] = []
        #: (time, {video face id: box}) of the previous chunk's analysed frames that the
        #: next chunk re-tracks, in time order
        self._tail: list[tuple[float, dict[int, np.ndarray]]] = []

    def add(self, result: ChunkResult) -> Iterator[tuple[VideoFrame, list[FaceObservation]]]:
        """Kept frames of the next chunk with video-wide indices and face ids.

        The same as :meth:`begin`, :meth:`feed` of all its frames and :meth:`end`.

        Yields
        ------
        frame : VideoFrame
            ``image`` is a read-only zero-size-stride placeholder of the decoded frame's
            shape (the pixels stay in the worker).
        faces : list of FaceObservation or None
            Sorted by face id; None for a frame that was not analysed (frame stride).
        """
        self.begin(result.chunk)
        yield from self.feed(result.frames)
        yield from self.end(result.info)

    def begin(self, chunk: Chunk) -> None:
        """Start the next chunk (chunks must come in plan order)."""
        if chunk.index != len(self.infos):
            raise ValueError(f"chunk {chunk.index} given out of order")
        self._chunk = chunk
        self._keep = -np.inf if chunk.keep_s is None else chunk.keep_s
        nxt = self.plan[chunk.index + 1] if chunk.index + 1 < len(self.plan) else None
        self._tail_from = np.inf if nxt is None or nxt.start_s is None else nxt.start_s
        self._warm: list[FrameRecord] = []
        self._ids: dict[int, int] | None = None
        self._new_tail: list[tuple[float, dict[int, np.ndarray]]] = []

    def feed(self, frames: Sequence[FrameRecord]) -> Iterator[tuple[VideoFrame, Any]]:
        """The next frames of the current chunk, in time order (see :meth:`add`)."""
        for rec in frames:
            if self._ids is None:
                if rec.timestamp < self._keep:
                    self._warm.append(rec)
                    continue
                self._ids = self._match(self._warm)
                self._warm = []
            yield self._kept(rec, self._ids)

    def end(self, info: VideoInfo) -> Iterator[tuple[VideoFrame, Any]]:
        """Finish the current chunk (``info``: of its decoded range)."""
        if self._ids is None:  # no kept frame at all
            self._ids = self._match(self._warm)
        self.infos.append(info)
        self.id_maps.append(self._ids)
        self._tail = self._new_tail
        return iter(())

    def _kept(self, rec: FrameRecord, ids: dict[int, int]) -> tuple[VideoFrame, Any]:
        frame = VideoFrame(self.n_frames, rec.timestamp, _placeholder(rec), rec.scale)
        self.n_frames += 1
        self.timestamps.append(rec.timestamp)
        if rec.faces is None:
            return frame, None
        faces = []
        for f in rec.faces:
            if f.face_id not in ids:
                ids[f.face_id] = self.next_id
                self.next_id += 1
            faces.append(FaceObservation(ids[f.face_id], f.bbox, f.landmarks, f.aligned, f.score))
        faces.sort(key=lambda o: o.face_id)
        if rec.timestamp >= self._tail_from:
            self._new_tail.append((rec.timestamp, {o.face_id: o.bbox for o in faces}))
        return frame, faces

    def _match(self, warm: list[FrameRecord]) -> dict[int, int]:
        """Chunk face id -> video face id, from the boxes of the shared warm-up frames."""
        votes: dict[tuple[int, int], int] = {}
        times = np.asarray([t for t, _ in self._tail])
        for rec in warm:
            if not rec.faces or not len(times):
                continue
            j = int(np.argmin(np.abs(times - rec.timestamp)))
            if abs(times[j] - rec.timestamp) > self.max_dt:
                continue
            before = self._tail[j][1]
            for f in rec.faces:
                for gid, box in before.items():
                    if box_iou(np.asarray(f.bbox), np.asarray(box)) > self.min_iou:
                        votes[(f.face_id, gid)] = votes.get((f.face_id, gid), 0) + 1
        ids: dict[int, int] = {}
        used: set[int] = set()
        for (lid, gid), _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
            if lid not in ids and gid not in used:
                ids[lid] = gid
                used.add(gid)
        return ids

    def timestamps_array(self) -> np.ndarray:
        """Times of the kept frames so far: shape (n_frames,), float64."""
        return np.asarray(self.timestamps, dtype=np.float64)

    def info(self) -> VideoInfo:
        """The whole video's :class:`VideoInfo`, from the chunks' infos and kept frames.

        Frame rate: the chunks' (container) rate when every chunk reports the same and the
        measured rate agrees within 1 %, else the measured one (the rule of
        :func:`vafusion.io.media.scan`).
        """
        ts = np.asarray(self.timestamps)
        first = self.infos[0]
        n = len(ts)
        span = float(ts[-1] - ts[0]) if n > 1 else 0.0
        rates = {round(i.fps, 9) for i in self.infos}
        fps = first.fps
        if n > 1 and span > 0:
            measured = (n - 1) / span
            if len(rates) > 1 or abs(measured - fps) / fps > 0.01:
                fps = measured
        return dataclasses.replace(
            first,
            n_frames=n,
            fps=fps,
            duration_s=span + 1.0 / fps,
            decode_errors=sum(i.decode_errors for i in self.infos),
        )


def _placeholder(rec: FrameRecord) -> np.ndarray:
    h, w = rec.shape
    return np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3))
