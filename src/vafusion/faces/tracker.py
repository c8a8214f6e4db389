"""Multi-face tracking: full-range detection, one face-mesh tracker per face, stable ids.

Method
------
* **Detection** (MediaPipe BlazeFace full-range model, on the whole frame) runs on the first
  frame, every ``detect_every`` frames, and every ``detect_every_lost`` frames while a track
  is lost or no face is tracked. It only *starts* tracks: per-frame landmarks come from the
  trackers.
* **One FaceMesh per track** (MediaPipe face mesh, 478 points with irises, tracking mode):
  each frame the track's region is cut out of the frame by an affine warp to a
  ``crop_size`` x ``crop_size`` window centred on the face's last position, ``crop_margin``
  times the face size. The face keeps the same place and size inside its window, so
  MediaPipe's own frame-to-frame tracking stays locked, small faces are magnified, and
  two faces never compete for one tracker. Landmarks are mapped back to original-frame
  pixels.
* **Identity**: a track that loses its face is *lost*; for ``max_missed`` frames its
  window is still searched (MediaPipe re-detects inside it) and a full-frame detection near
  its last box revives it with the same ``face_id`` (short occlusions, a head turning
  away). A detection not near any track starts a new track (new id) if the face mesh
  confirms a face there. Two tracks that converge on the same face (box IoU above
  ``duplicate_iou``) are merged into the older one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.config import config_hash
from vafusion.errors import ConfigError
from vafusion.faces.align import alignment_matrix
from vafusion.faces.expression_pca import N_MESH
from vafusion.faces.mesh import FaceDetector, FaceMeshRunner
from vafusion.faces.types import FaceObservation
from vafusion.io.media import VideoFrame
from vafusion.log import get_logger

log = get_logger("faces")


@dataclass(frozen=True)
class TrackerConfig:
    """Face detection and tracking settings.

    Attributes
    ----------
    max_faces : int
        Maximum number of simultaneous tracks.
    detect_every : int
        Full-frame detection period (frames) while all tracks are locked.
    detect_every_lost : int
        Detection period while a track is lost or no face is tracked.
    min_detection_confidence : float
        BlazeFace score threshold (full-frame detection and MediaPipe's re-detection).
    min_tracking_confidence : float
        MediaPipe face-mesh presence threshold for keeping a tracked face.
    full_range : bool
        Full-range detection model (faces up to ~5 m) instead of the short-range one.
    max_missed : int
        Frames a lost track keeps its id and may be revived.
    crop_size : int
        Side (pixels) of the per-track window fed to the face mesh.
    crop_margin : float
        Window side / face size.
    aligned_size : int
        Side of the aligned face crop (pixels).
    duplicate_iou : float
        Box IoU above which two tracks are considered the same face.
    irises : bool
        MediaPipe's refined face mesh (eyes and lips refined, 10 iris points): needed for
        gaze and blendshapes. False runs the plain mesh, ~16 % less tracker CPU
        per frame (``benchmarks/bench_mesh_irises.py``); iris points, gaze
        and the iris landmark columns are then NaN. Left out of store keys when True, so
        keys made before the option existed stay valid.
    """

    max_faces: int = 4
    detect_every: int = 30
    detect_every_lost: int = 2
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    full_range: bool = True
    max_missed: int = 15
    crop_size: int = 256
    crop_margin: float = 1.8
    aligned_size: int = 112
    duplicate_iou: float = 0.5
    irises: bool = True

    def __post_init__(self) -> None:
        if self.max_faces < 1:
            raise ConfigError("faces.max_faces must be >= 1")
        if self.detect_every < 1 or self.detect_every_lost < 1:
            raise ConfigError("faces.detect_every and detect_every_lost must be >= 1")
        if self.crop_size < 128 or self.aligned_size < 16:
            raise ConfigError("faces.crop_size must be >= 128 and aligned_size >= 16")
        if self.crop_margin < 1.2:
            raise ConfigError("faces.crop_margin must be >= 1.2")
        for name in ("min_detection_confidence", "min_tracking_confidence", "duplicate_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"faces.{name} must be in [0, 1]")


def cut_window(
    image: np.ndarray, centre: np.ndarray, side: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Square window of ``image`` around ``centre``, resized to ``size`` x ``size``.

    Only the part inside the image is resized (cheaper than a general warp and than
    padding first); the rest of the window is black.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8
    centre : numpy.ndarray, shape (2,)
        Window centre, pixels.
    side : float
        Window side, pixels.
    size : int
        Output side.

    Returns
    -------
    window : numpy.ndarray, shape (size, size, 3), uint8
    mapping : numpy.ndarray, shape (2, 2)
        ``[[ax, bx], [ay, by]]``: a window point ``(u, v)`` in output pixels (pixel-edge
        coordinates) lies at ``(ax * u + bx, ay * v + by)`` in the image.
    """
    import cv2

    h, w = image.shape[:2]
    k = size / max(float(side), 8.0)  # output pixels per image pixel
    x0, y0 = centre[0] - size / (2 * k), centre[1] - size / (2 * k)
    # the part of the window inside the image, in whole image pixels
    cx0, cy0 = max(int(np.ceil(x0)), 0), max(int(np.ceil(y0)), 0)
    cx1 = min(int(np.floor(x0 + size / k)), w)
    cy1 = min(int(np.floor(y0 + size / k)), h)
    window = np.zeros((size, size, 3), np.uint8)
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return window, np.array([[1 / k, x0], [1 / k, y0]])
    dx0 = min(max(int(round((cx0 - x0) * k)), 0), size - 1)
    dy0 = min(max(int(round((cy0 - y0) * k)), 0), size - 1)
    dw = max(min(int(round((cx1 - cx0) * k)), size - dx0), 1)
    dh = max(min(int(round((cy1 - cy0) * k)), size - dy0), 1)
    window[dy0 : dy0 + dh, dx0 : dx0 + dw] = cv2.resize(
        image[cy0:cy1, cx0:cx1], (dw, dh), interpolation=cv2.INTER_LINEAR
    )
    ax, ay = (cx1 - cx0) / dw, (cy1 - cy0) / dh
    return window, np.array([[ax, cx0 - ax * dx0], [ay, cy0 - ay * dy0]])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``x0, y0, x1, y1`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class _Track:
    face_id: int
    runner: FaceMeshRunner
    centre: np.ndarray  # (2,) window centre, pixels of the decoded image
    side: float  # window side, pixels of the decoded image
    box: np.ndarray  # (4,) last landmark box, pixels of the decoded image
    score: float
    missed: int = 0
    frames: int = 0
    last_frame: int = -1

    @property
    def lost(self) -> bool:
        return self.missed > 0


class FaceTracker:
    """Detect and track faces frame by frame; see the module docstring for the method.

    Parameters
    ----------
    config : TrackerConfig, optional

    Examples
    --------
    >>> tracker = FaceTracker()  # doctest: +SKIP
    >>> for frame in iter_frames("clip.mp4", max_side=1280):  # doctest: +SKIP
    ...     faces = tracker.process(frame)
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._detector: FaceDetector | None = None
        self._pool: list[FaceMeshRunner] = []
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._last_detect = -(10**9)
        self.n_detections_run = 0

    # ------------------------------------------------------------------ lifecycle
    def config_hash(self) -> str:
        """Short stable hash of the tracker settings."""
        return config_hash(self.config)

    def reset(self) -> None:
        """Forget all tracks (call before a new video); face ids restart at 0."""
        for tr in self._tracks:
            self._release(tr)
        self._tracks = []
        self._next_id = 0
        self._last_detect = -(10**9)
        self.n_detections_run = 0

    def close(self) -> None:
        """Release all MediaPipe graphs."""
        self.reset()
        for r in self._pool:
            r.close()
        self._pool = []
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def warm_up(self) -> None:
        """Build the detector and one face-mesh graph now (one-off set-up, ~0.5 s).

        Otherwise the first video pays for it. Runs both once on a blank frame; the tracker
        is left reset (no track), with the mesh graph pooled for the first face.
        """
        image = np.full((self.config.crop_size, self.config.crop_size, 3), 128, np.uint8)
        self._detect(image)
        runner = self._runner()
        runner(image)
        runner.reset()
        self._pool.append(runner)
        self.reset()

    def _runner(self) -> FaceMeshRunner:
        if self._pool:
            return self._pool.pop()
        c = self.config
        return FaceMeshRunner(c.min_detection_confidence, c.min_tracking_confidence, c.irises)

    def _release(self, tr: _Track) -> None:
        tr.runner.reset()
        self._pool.append(tr.runner)

    # ------------------------------------------------------------------ per frame
    def _mesh_in_window(
        self, image: np.ndarray, tr: _Track
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Run the track's face mesh in its window; landmarks in decoded-image pixels."""
        size = self.config.crop_size
        window, (mx, my) = cut_window(image, tr.centre, tr.side, size)
        lm = tr.runner(window)
        if lm is None:
            return None, window
        out = np.empty((lm.shape[0], 3), dtype=np.float64)
        out[:, 0] = lm[:, 0] * (size * mx[0]) + mx[1]
        out[:, 1] = lm[:, 1] * (size * my[0]) + my[1]
        out[:, 2] = lm[:, 2] * (size * mx[0])
        return out, window

    def _update_window(self, tr: _Track, lm: np.ndarray) -> None:
        lm = lm[:N_MESH]  # the face's outline (iris points lie inside it, or are NaN)
        x0, y0 = lm[:, 0].min(), lm[:, 1].min()
        x1, y1 = lm[:, 0].max(), lm[:, 1].max()
        tr.box = np.array([x0, y0, x1, y1])
        size = max(x1 - x0, y1 - y0)
        tr.centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
        tr.side = max(self.config.crop_margin * size, 16.0)

    def _detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._detector is None:
            self._detector = FaceDetector(
                self.config.min_detection_confidence, full_range=self.config.full_range
            )
        self.n_detections_run += 1
        return self._detector(image)

    def process(self, frame: VideoFrame) -> list[FaceObservation]:
        """Track faces in the next frame of the video.

        Parameters
        ----------
        frame : VideoFrame
            Consecutive frames of one video (call :meth:`reset` between videos).

        Returns
        -------
        list of FaceObservation
            One per face found in this frame, ordered by ``face_id``; coordinates in pixels
            of the original frame (``frame.scale`` undone).
        """
        image = np.ascontiguousarray(frame.image)
        c = self.config
        idx = frame.index
        found: dict[int, np.ndarray] = {}
        # 1) every live track searches its own window
        for tr in self._tracks:
            lm, _ = self._mesh_in_window(image, tr)
            if lm is not None:
                found[tr.face_id] = lm
                self._update_window(tr, lm)
        # 2) full-frame detection when due
        any_lost = not self._tracks or any(tr.face_id not in found for tr in self._tracks)
        period = c.detect_every_lost if any_lost else c.detect_every
        if idx - self._last_detect >= period:
            self._last_detect = idx
            boxes, scores = self._detect(image)
            self._use_detections(image, boxes, scores, found)
        # 3) bookkeeping: misses, duplicates, retirement
        self._merge_duplicates(found)
        keep = []
        for tr in self._tracks:
            if tr.face_id in found:
                tr.missed = 0
                tr.frames += 1
                tr.last_frame = idx
                keep.append(tr)
            else:
                tr.missed += 1
                if tr.missed <= c.max_missed:
                    keep.append(tr)
                else:
                    self._release(tr)
        self._tracks = keep
        # 4) observations in original-frame pixels
        inv = 1.0 / frame.scale
        out = []
        for tr in sorted(self._tracks, key=lambda t: t.face_id):
            lm = found.get(tr.face_id)
            if lm is None:
                continue
            matrix = alignment_matrix(lm, c.aligned_size)
            out.append(
                FaceObservation(
                    face_id=tr.face_id,
                    bbox=(tr.box * inv).astype(np.float32),
                    landmarks=(lm * inv).astype(np.float32),
                    score=tr.score,
                    align_from=(image, matrix, c.aligned_size),
                )
            )
        return out

    def _use_detections(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        found: dict[int, np.ndarray],
    ) -> None:
        c = self.config
        order = np.argsort(-scores)
        for j in order:
            box = boxes[j]
            centre = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])
            size = max(box[2] - box[0], box[3] - box[1])
            # already tracked this frame?
            if any(self._covers(self._track(fid).box, centre) for fid in found):
                continue
            # a lost track near this detection: revive it with its old id
            lost = [t for t in self._tracks if t.face_id not in found]
            lost.sort(key=lambda t: np.hypot(*(t.centre - centre)))
            target = None
            for t in lost:
                if np.hypot(*(t.centre - centre)) < max(t.side, c.crop_margin * size) * 0.5:
                    target = t
                    break
            if target is None and len(self._tracks) >= c.max_faces:
                continue
            trial = target
            if trial is None:
                trial = _Track(
                    face_id=-1,
                    runner=self._runner(),
                    centre=centre,
                    side=c.crop_margin * size * 1.1,
                    box=box.copy(),
                    score=float(scores[j]),
                )
            else:
                trial.runner.reset()
                trial.centre = centre
                trial.side = c.crop_margin * size * 1.1
            lm, _ = self._mesh_in_window(image, trial)
            if lm is None:
                if target is None:
                    self._release(trial)
                continue
            self._update_window(trial, lm)
            trial.score = float(scores[j])
            if target is None:
                trial.face_id = self._next_id
                self._next_id += 1
                self._tracks.append(trial)
                log.debug("new face track %d", trial.face_id)
            found[trial.face_id] = lm

    def _track(self, face_id: int) -> _Track:
        return next(t for t in self._tracks if t.face_id == face_id)

    @staticmethod
    def _covers(box: np.ndarray, point: np.ndarray) -> bool:
        return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])

    def _merge_duplicates(self, found: dict[int, np.ndarray]) -> None:
        ids = sorted(found, key=lambda f: (-self._track(f).frames, f))
        for i, a in enumerate(ids):
            if a not in found:
                continue
            for b in ids[i + 1 :]:
                if b in found and box_iou(self._track(a).box, self._track(b).box) > (
                    self.config.duplicate_iou
                ):
                    # b converged on a's face: b is retired (released in bookkeeping)
                    del found[b]
                    self._track(b).missed = self.config.max_missed
