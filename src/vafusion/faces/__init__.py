"""Face detection, multi-face tracking, alignment and FacePose geometry features.

Public API
----------
- :class:`~vafusion.faces.tracker.FaceTracker`, :class:`~vafusion.faces.tracker.TrackerConfig`:
  full-range detection + one 478-point MediaPipe face mesh per track, stable ``face_id``.
- :class:`~vafusion.faces.types.FaceObservation`: one face in one frame (box, mesh,
  aligned 112x112 crop).
- :class:`~vafusion.faces.facepose.FacePoseSet`,
  :class:`~vafusion.faces.facepose.FacePoseConfig`: the ``facepose`` feature set
  (OpenFace-compatible column names, :func:`~vafusion.faces.columns.facepose_columns`).
- :func:`~vafusion.faces.subjects.select_face`: dense per-frame table of ``main``,
  ``left``, ``right``, an id or ``all`` from any long-form face table;
  :class:`~vafusion.faces.subjects.TrackStats` for ``meta["tracks"]``.
- :func:`~vafusion.faces.align.align_face`: the template alignment on its own.

Method, column list and limits: ``docs/faces.md``.
"""

from vafusion.faces.types import FaceObservation

__all__ = ["FaceObservation"]
