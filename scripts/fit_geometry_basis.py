"""Re-fit the shipped expression-geometry basis from real videos.

Usage::

    python scripts/fit_geometry_basis.py OUT.npz VIDEO [VIDEO ...]

Every face track of every video is tracked (default tracker settings, frames capped at
1280 pixels like ``vafusion extract``), pose-normalised and made relative to its running
neutral exactly as :class:`~vafusion.faces.facepose.FacePoseSet` does, and the
pooled deformations are reduced by PCA (:func:`~vafusion.faces.expression_pca.fit_geometry_pca`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from vafusion.faces.aus import au_measures
from vafusion.faces.columns import N_GEOMETRY
from vafusion.faces.expression_pca import N_MESH, fit_geometry_pca
from vafusion.faces.facepose import FacePoseConfig, TrackState, update_neutral
from vafusion.faces.pose import fit_pose, normalise_mesh
from vafusion.faces.tracker import FaceTracker, TrackerConfig
from vafusion.io.media import Video


def video_deformations(path: str | Path, config: FacePoseConfig | None = None) -> np.ndarray:
    """Pose-normalised deformations (mesh minus running neutral) of all tracks of a video.

    Returns
    -------
    numpy.ndarray, shape (N, 468, 3), float32
    """
    config = config or FacePoseConfig()
    tracker = FaceTracker(TrackerConfig())
    per_track: dict[int, list[np.ndarray]] = {}
    size = None
    try:
        for frame in Video(path, max_side=1280).frames():
            if size is None:
                h, w = frame.image.shape[:2]
                size = (round(w / frame.scale), round(h / frame.scale))
            for face in tracker.process(frame):
                per_track.setdefault(face.face_id, []).append(face.landmarks)
    finally:
        tracker.close()
    out = []
    for meshes in per_track.values():
        state = TrackState()
        arr = np.stack(meshes).astype(np.float64)
        for start in range(0, len(arr), config.chunk_frames):
            chunk = arr[start : start + config.chunk_frames]
            fit = fit_pose(chunk, size[0], size[1])
            norm = normalise_mesh(chunk[:, :N_MESH], fit)
            neutral, _ = update_neutral(state, norm, au_measures(norm), config, start)
            out.append((norm - neutral[None]).astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, N_MESH, 3), np.float32)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``OUT.npz VIDEO...``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__)
        return 2
    out, videos = args[0], args[1:]
    data = []
    for v in videos:
        d = video_deformations(v)
        print(f"{Path(v).name}: {len(d)} face frames")
        data.append(d)
    ratio = fit_geometry_pca(np.concatenate(data), N_GEOMETRY, out, [Path(v).name for v in videos])
    print(f"explained variance: first 8 {np.round(ratio[:8], 3)}, all {ratio.sum():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
