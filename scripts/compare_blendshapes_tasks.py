"""Our ``blendshapes`` vs MediaPipe's own FaceLandmarker (Tasks API) on the same frames.

Usage::

    python scripts/compare_blendshapes_tasks.py [CLIP] [--task FACE_LANDMARKER_TASK]

Runs MediaPipe's ``FaceLandmarker`` (video mode, ``output_face_blendshapes=True``) on every
decoded frame of the clip and vafusion's ``blendshapes`` set (our tracker's mesh through our
ONNX network), then prints, over the frames where both found the face (our track 0):

* per coefficient: the reference's standard deviation, Pearson correlation and mean
  absolute difference;
* our network on MediaPipe's *own* 478 points vs MediaPipe's scores (max absolute
  difference): this isolates the network and the input convention from the mesh;
* with ``--legacy-mesh``, also the legacy ``FaceMesh`` solution run on whole frames (no
  vafusion crops) through our network: how much of the difference is the mesh model's.

The tests (tests/test_blendshapes.py) use :func:`tasks_reference` and :func:`agreement`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"
DEFAULT_TASK = REPO / "tests" / "data" / "models" / "face_landmarker.task"


def tasks_reference(
    clip: Path, task_file: Path
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], list[str]]:
    """MediaPipe FaceLandmarker on every frame.

    Returns
    -------
    scores : dict of int to numpy.ndarray, shape (52,)
        Frame -> blendshape scores (frames where it found a face).
    meshes : dict of int to numpy.ndarray, shape (478, 3)
        Frame -> its landmarks, x and y in pixels of the decoded frame.
    names : list of str
        Its category names, in order.
    """
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from vafusion.io.media import scan

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(task_file)),
        running_mode=vision.RunningMode.VIDEO,
        output_face_blendshapes=True,
        num_faces=1,
    )
    scores: dict[int, np.ndarray] = {}
    meshes: dict[int, np.ndarray] = {}
    names: list[str] = []
    with vision.FaceLandmarker.create_from_options(options) as landmarker:

        def on_frame(frame) -> None:
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame.image)
            ms = int(frame.timestamp * 1000) + frame.index  # strictly increasing
            result = landmarker.detect_for_video(image, ms)
            if not result.face_blendshapes:
                return
            names[:] = [c.category_name for c in result.face_blendshapes[0]]
            scores[frame.index] = np.array([c.score for c in result.face_blendshapes[0]])
            h, w = frame.image.shape[:2]
            pts = [(p.x * w, p.y * h, p.z) for p in result.face_landmarks[0]]
            meshes[frame.index] = np.array(pts)

        scan(clip, on_frame)
    return scores, meshes, names


def ours_by_frame(clip: Path) -> dict[int, np.ndarray]:
    """vafusion's blendshapes of track 0: frame -> (52,)."""
    from vafusion.extraction import Pipeline

    with Pipeline("blendshapes") as pipe:
        tables = pipe.process(clip).tables
    t = tables["blendshapes"]
    ok = t.valid & (t.face_id == 0)
    return dict(zip(t.frame[ok].tolist(), t.values[ok], strict=True))


def legacy_mesh_scores(clip: Path, model) -> dict[int, np.ndarray]:
    """MediaPipe's legacy ``FaceMesh`` (whole frames, tracking mode) through our network."""
    import mediapipe as mp

    from vafusion.io.media import scan

    out: dict[int, np.ndarray] = {}
    with mp.solutions.face_mesh.FaceMesh(max_num_faces=1, refine_landmarks=True) as mesh:

        def on_frame(frame) -> None:
            result = mesh.process(frame.image)
            if result.multi_face_landmarks:
                h, w = frame.image.shape[:2]
                pts = [(p.x * w, p.y * h, p.z) for p in result.multi_face_landmarks[0].landmark]
                out[frame.index] = model(np.array(pts)[None])[0]

        scan(clip, on_frame)
    return out


def agreement(
    ours: dict[int, np.ndarray], ref: dict[int, np.ndarray]
) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Per-coefficient agreement on the frames both have.

    Returns
    -------
    frames : list of int
    sd : numpy.ndarray, shape (52,)
        Standard deviation of the reference.
    corr : numpy.ndarray, shape (52,)
        Pearson correlation (NaN where either side is constant).
    mad : numpy.ndarray, shape (52,)
        Mean absolute difference.
    """
    frames = sorted(set(ours) & set(ref))
    a = np.stack([ours[f] for f in frames])
    b = np.stack([ref[f] for f in frames])
    sd = b.std(axis=0)
    corr = np.full(a.shape[1], np.nan)
    for j in range(a.shape[1]):
        if a[:, j].std() > 1e-9 and sd[j] > 1e-9:
            corr[j] = np.corrcoef(a[:, j], b[:, j])[0, 1]
    return frames, sd, corr, np.abs(a - b).mean(axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--task", type=Path, default=DEFAULT_TASK)
    ap.add_argument("--legacy-mesh", action="store_true", help="also the legacy FaceMesh")
    args = ap.parse_args()
    from vafusion.faces.blendshapes import BLENDSHAPE_NAMES, BlendshapeModel

    ref, meshes, names = tasks_reference(args.clip, args.task)
    assert names == list(BLENDSHAPE_NAMES), "MediaPipe's names differ from ours"
    ours = ours_by_frame(args.clip)
    frames, sd, corr, mad = agreement(ours, ref)
    print(f"{args.clip.name}: ours {len(ours)} frames, MediaPipe {len(ref)}, both {len(frames)}")
    print("| coefficient | sd (MediaPipe) | correlation | mean abs. difference |")
    print("|---|---|---|---|")
    for j in np.argsort(-sd):
        print(f"| {BLENDSHAPE_NAMES[j]} | {sd[j]:.3f} | {corr[j]:.2f} | {mad[j]:.3f} |")
    moving = sd > 0.05
    print(
        f"\nall 52: mean abs. difference {mad.mean():.4f}; the {moving.sum()} coefficients with "
        f"sd > 0.05: median correlation {np.nanmedian(corr[moving]):.3f}"
    )
    model = BlendshapeModel()
    own = model(np.stack([meshes[f] for f in sorted(meshes)]))
    diff = np.abs(own - np.stack([ref[f] for f in sorted(meshes)])).max()
    print(f"our network on MediaPipe's own mesh ({len(meshes)} frames): max |diff| {diff:.2e}")
    if args.legacy_mesh:
        frames, sd, corr, mad = agreement(legacy_mesh_scores(args.clip, model), ref)
        print(
            f"legacy FaceMesh on whole frames ({len(frames)} frames): mean abs. difference "
            f"{mad.mean():.4f}; median correlation (sd > 0.05) {np.nanmedian(corr[sd > 0.05]):.3f}"
        )


if __name__ == "__main__":
    main()
