"""Thin wrappers around MediaPipe's legacy solutions (face detection, 478-point face mesh).

MediaPipe 0.10.21 ships the .tflite models inside its wheel, so nothing is downloaded.
Its verbose C++ logging is silenced before the first import.
"""

from __future__ import annotations

import os

import numpy as np

from vafusion.errors import ModelError

_LANDMARK_BYTES = 17  # serialized NormalizedLandmark with x, y, z set: tag+len, 3 x (tag+f32)
_FLOAT_BYTES = np.array([3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16])


def _mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ModelError(
            f"mediapipe is not installed ({exc}); install mediapipe==0.10.21"
        ) from None
    if not hasattr(mp, "solutions"):  # pragma: no cover - wrong version
        raise ModelError("mediapipe lacks the legacy 'solutions' API: install mediapipe==0.10.21")
    return mp


#: Points of the refined face mesh: 468 mesh points, then 10 iris points.
N_POINTS = 478


def landmarks_to_array(landmark_list) -> np.ndarray:
    """Convert a MediaPipe ``NormalizedLandmarkList`` to an array quickly.

    Parameters
    ----------
    landmark_list : NormalizedLandmarkList

    Returns
    -------
    numpy.ndarray, shape (P, 3), float32
        Normalised x, y (fractions of the input image) and z (relative depth, fraction of
        the image width).
    """
    raw = landmark_list.SerializeToString()
    n = len(landmark_list.landmark)
    if len(raw) == n * _LANDMARK_BYTES:
        b = np.frombuffer(raw, np.uint8).reshape(n, _LANDMARK_BYTES)
        if (b[:, 0] == 10).all() and (b[:, 2] == 13).all():
            return np.ascontiguousarray(b[:, _FLOAT_BYTES]).view(np.float32).reshape(n, 3)
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)


class FaceMeshRunner:
    """One MediaPipe FaceMesh graph (single face, tracking mode).

    Parameters
    ----------
    min_detection_confidence, min_tracking_confidence : float
        MediaPipe's thresholds for its internal (short-range) re-detection and for keeping
        a tracked face.
    irises : bool, default True
        MediaPipe's refined model (``refine_landmarks``: eyes and lips refined by its
        attention mesh, plus 10 iris points). Without it the graph runs the plain mesh
        model (~24 % less CPU per frame, ``benchmarks/bench_mesh_irises.py``) and points 468-477
        are NaN.
    """

    def __init__(
        self, min_detection_confidence: float, min_tracking_confidence: float, irises: bool = True
    ) -> None:
        mp = _mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=1,
            refine_landmarks=irises,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self._image_type = self._mesh._input_stream_type_info["image"]
        self._out_type = self._mesh._output_stream_type_info["multi_face_landmarks"]

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        """Landmarks of the face in ``image`` (shape (478, 3), normalised) or None
        (points 468-477 NaN without irises).

        ``image`` is an (H, W, 3) uint8 RGB array. This is ``FaceMesh.process`` without
        its per-call Python overhead (building a namedtuple type per frame), using the
        same graph calls of mediapipe 0.10.21's ``SolutionBase``.
        """
        sb = self._mesh
        sb._graph_outputs.clear()
        sb._simulated_timestamp += 33333
        packet = sb._make_packet(self._image_type, image).at(sb._simulated_timestamp)
        sb._graph.add_packet_to_input_stream(stream="image", packet=packet)
        sb._graph.wait_until_idle()
        out = sb._graph_outputs.get("multi_face_landmarks")
        if out is None:
            return None
        faces = sb._get_packet_content(self._out_type, out)
        if not faces:
            return None
        points = landmarks_to_array(faces[0])
        if len(points) < N_POINTS:  # the plain mesh: no iris points
            missing = np.full((N_POINTS - len(points), 3), np.nan, np.float32)
            points = np.concatenate([points, missing])
        return points

    def reset(self) -> None:
        """Forget the tracked face (the next call re-detects)."""
        self._mesh.reset()

    def close(self) -> None:
        """Release the graph."""
        self._mesh.close()


class FaceDetector:
    """MediaPipe BlazeFace detector (full-range model: small faces in wide shots).

    Parameters
    ----------
    min_confidence : float
        Detection score threshold.
    full_range : bool
        Use the full-range model (True) or the short-range (selfie) model.
    """

    def __init__(self, min_confidence: float = 0.5, full_range: bool = True) -> None:
        mp = _mediapipe()
        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=1 if full_range else 0, min_detection_confidence=min_confidence
        )

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detect faces.

        Parameters
        ----------
        image : numpy.ndarray, shape (H, W, 3), uint8 RGB

        Returns
        -------
        boxes : numpy.ndarray, shape (K, 4), float64
            ``x0, y0, x1, y1`` in pixels of ``image``.
        scores : numpy.ndarray, shape (K,)
        """
        h, w = image.shape[:2]
        result = self._det.process(image)
        boxes, scores = [], []
        for det in result.detections or []:
            bb = det.location_data.relative_bounding_box
            boxes.append(
                [bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h]
            )
            scores.append(det.score[0] if det.score else 0.0)
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(
            scores, dtype=np.float64
        )

    def close(self) -> None:
        """Release the graph."""
        self._det.close()
