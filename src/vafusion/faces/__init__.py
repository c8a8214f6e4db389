"""Face detection, multi-face tracking, alignment and FacePose geometry features."""

from vafusion.faces.types import FaceObservation

__all__ = ["FaceObservation"]
