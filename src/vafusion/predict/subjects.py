"""Which tracked face(s) a prediction reports: ``main``, ``left``, ``right``, ``all`` or an id.

Rules (the same as Aff-Wild2's ``_left`` / ``_right`` convention):

* ``main``: the track with the largest total face area over time (frames x mean box area).
* ``left`` / ``right``: the track whose mean box centre is furthest left / right.
* tracks seen in fewer than 10% of the frames of the longest track are ignored by these
  three (brief false detections), the same rule as :func:`vafusion.faces.subjects.choose_track`.
* ``all``: every track, ordered by id.
* an integer: that track id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.errors import ConfigError

FACE_CHOICES = ("main", "left", "right", "all")

#: Tracks seen in fewer frames than this share of the longest are ignored by main/left/right.
MIN_TRACK_SHARE = 0.1


@dataclass
class FaceTracks:
    """Long-form per-face arrays of one video.

    Attributes
    ----------
    frame : numpy.ndarray, shape (R,), int64
    face_id : numpy.ndarray, shape (R,), int64
    probs : numpy.ndarray, shape (R, K), float32
        Per-row model output (class probabilities for the default model).
    bbox : numpy.ndarray, shape (R, 4), float32
    n_frames : int
    """

    frame: np.ndarray
    face_id: np.ndarray
    probs: np.ndarray
    bbox: np.ndarray
    n_frames: int

    @classmethod
    def from_rows(cls, rows: list, n_frames: int, k: int = 7) -> FaceTracks:
        """Build from ``[(frame, face_id, probs (K,), bbox (4,)), ...]``."""
        if not rows:
            return cls(
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros((0, k), np.float32),
                np.zeros((0, 4), np.float32),
                n_frames,
            )
        return cls(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
            np.stack([r[2] for r in rows]).astype(np.float32),
            np.stack([r[3] for r in rows]).astype(np.float32),
            n_frames,
        )

    @property
    def ids(self) -> list[int]:
        """Track ids present, sorted."""
        return sorted(int(i) for i in np.unique(self.face_id))

    @property
    def any_face(self) -> np.ndarray:
        """(n_frames,) bool: frames where at least one face was seen."""
        out = np.zeros(self.n_frames, dtype=bool)
        out[self.frame] = True
        return out

    def get(self, face_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of one track: ``(frames (n,), probs (n, K), bbox (n, 4))``, frame-sorted.

        A frame seen twice for one id (should not happen) keeps the last row.
        """
        m = self.face_id == face_id
        frames, probs, boxes = self.frame[m], self.probs[m], self.bbox[m]
        order = np.argsort(frames, kind="stable")
        frames, probs, boxes = frames[order], probs[order], boxes[order]
        keep = np.append(frames[1:] != frames[:-1], True) if len(frames) else frames.astype(bool)
        return frames[keep], probs[keep], boxes[keep]


def parse_face(face: str | int) -> str | int:
    """Validate a ``--face`` value (``main|left|right|all`` or a track id)."""
    if isinstance(face, int):
        return face
    text = str(face).strip().lower()
    if text in FACE_CHOICES:
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"--face must be one of {', '.join(FACE_CHOICES)} or a face id, got {face!r}"
        ) from None


def select_tracks(tracks: FaceTracks, face: str | int = "main") -> list[int]:
    """Track ids to report for ``face`` (empty if no track matches).

    Parameters
    ----------
    tracks : FaceTracks
    face : {"main", "left", "right", "all"} or int

    Returns
    -------
    list of int
    """
    face = parse_face(face)
    ids = tracks.ids
    if not ids:
        return []
    if face == "all":
        return ids
    if isinstance(face, int):
        return [face] if face in ids else []
    counts = {i: int((tracks.face_id == i).sum()) for i in ids}
    areas = {}
    centres = {}
    for i in ids:
        b = tracks.bbox[tracks.face_id == i]
        areas[i] = float(np.mean((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))
        centres[i] = float(np.mean((b[:, 0] + b[:, 2]) / 2.0))
    longest = max(counts.values())
    cands = [i for i in ids if counts[i] >= MIN_TRACK_SHARE * longest]
    if face == "main":
        return [max(cands, key=lambda i: (counts[i] * areas[i], -i))]
    sign = 1.0 if face == "left" else -1.0
    return [min(cands, key=lambda i: (sign * centres[i], i))]
