"""Re-fit the shipped expression-geometry basis from real videos.

Usage::

    python -m vafusion.faces.fit_basis OUT.npz VIDEO [VIDEO ...] [--held-out VIDEO ...]

Every face track of every video is tracked, pose-normalised and made relative to its
running neutral exactly as :class:`~vafusion.faces.facepose.FacePoseSet` does, and the
pooled deformations are reduced by PCA (:func:`~vafusion.faces.expression_pca.fit_geometry_pca`).
``--held-out`` videos are not fitted on: the share of their variance the basis explains is
printed (and that of a random basis of the same size).
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
    tracker = FaceTracker(TrackerConfig())  # the default pipeline's tracker
    per_track: dict[int, list[np.ndarray]] = {}
    size = None
    for frame in Video(path, max_side=1280).frames():
        if size is None:
            h, w = frame.image.shape[:2]
            size = (round(w / frame.scale), round(h / frame.scale))
        for face in tracker.process(frame):
            per_track.setdefault(face.face_id, []).append(face.landmarks)
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


def explained_share(deform: np.ndarray, components: np.ndarray, mean: np.ndarray) -> float:
    """Share of the variance of ``deform`` (N, 468, 3) in the span of ``components`` (K, 1404)."""
    x = deform.reshape(len(deform), -1).astype(np.float64) - mean
    return float(((x @ components.T) ** 2).sum() / (x**2).sum())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``OUT.npz VIDEO... [--held-out VIDEO...]``."""
    args = sys.argv[1:] if argv is None else argv
    held = args[args.index("--held-out") + 1 :] if "--held-out" in args else []
    args = args[: args.index("--held-out")] if held else args
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
    cum = np.cumsum(ratio)
    print("explained variance (fitting data), cumulative:",
          {k: round(float(cum[k - 1]), 3) for k in (1, 2, 4, 8, 16, N_GEOMETRY)})  # fmt: skip
    if held:
        d = np.concatenate([video_deformations(v) for v in held])
        with np.load(out) as z:
            comps, mean = z["components"].astype(np.float64), z["mean"].astype(np.float64)
        shares = {k: round(explained_share(d, comps[:k], mean), 3) for k in (1, 2, 4, 8, 16, 64)}
        rng = np.random.default_rng(0)
        q, _ = np.linalg.qr(rng.normal(size=(comps.shape[1], N_GEOMETRY)))
        print(f"held out ({len(d)} face frames), cumulative: {shares}, "
              f"random {N_GEOMETRY}-d basis: {explained_share(d, q.T, mean):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
