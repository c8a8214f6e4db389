"""Face pipeline on the real test clips: tracking, pose, landmarks, AUs, subjects.

Expensive extractions are cached in module-scoped fixtures (the whole module takes well
under 3 minutes on a 2-core CPU).

Reference segments of WolfgangLanger_Pexels.mp4 were found by looking at the frames
(contact sheets and landmark overlays written to PNG): frames 0-140 crying with the eyes
shut, 144-224 surprise with a hand near the mouth (no smile), 300-420 broad smiles;
blinks (eyes fully shut for 1-2 frames between open frames) at frames 288 and 386.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from conftest import REPO
from media_factory import two_face_video, write_video
from vafusion.errors import ConfigError
from vafusion.extraction import Pipeline, PipelineConfig
from vafusion.extraction.config import set_key, set_provenance
from vafusion.faces.columns import AU_NAMES, FACEPOSE_VERSION, facepose_columns
from vafusion.faces.facepose import FacePoseAccumulator, FacePoseConfig, FacePoseSet
from vafusion.faces.mesh import FaceDetector
from vafusion.faces.subjects import select_face
from vafusion.faces.tracker import FaceTracker
from vafusion.io.media import iter_frames

WOLFGANG = "WolfgangLanger_Pexels.mp4"


def _extract(path, config: FacePoseConfig | None = None, max_side: int = 1280):
    sets = {"facepose": config} if config is not None else None
    with Pipeline(PipelineConfig.of("facepose", sets, max_side=max_side)) as pipe:
        result = pipe.process(path)
    return result.info, result["facepose"]


def _col(table, name: str) -> np.ndarray:
    return table.values[:, table.columns.index(name)]


@pytest.fixture(scope="module")
def wolfgang(clips_dir):
    info, table = _extract(clips_dir / WOLFGANG)
    return info, table, select_face(table, how="main")


@pytest.fixture(scope="module")
def wolfgang_frames(clips_dir):
    return [f.image for f in iter_frames(clips_dir / WOLFGANG)]


# ---------------------------------------------------------------------------- columns


def test_columns_fixed_versioned_and_about_700(wolfgang):
    _, table, _ = wolfgang
    cols = facepose_columns()
    assert table.columns == cols
    assert len(cols) == len(set(cols)) == 653
    assert cols[:2] == ["confidence", "success"]
    for name in ("pose_Tx", "pose_Rz", "gaze_angle_y", "x_67", "Z_67", "geom_63", "AU45_r"):
        assert name in cols
    assert [c for c in cols if c.endswith("_r")] == [f"{a}_r" for a in AU_NAMES]
    assert table.meta["version"] == FACEPOSE_VERSION
    assert table.meta["valid_column"] == "face_valid"
    assert "face_valid" in table.to_pandas().columns


# ---------------------------------------------------------------------------- one face


def test_one_face_valid_in_nearly_every_frame(wolfgang):
    info, table, dense = wolfgang
    assert info.n_frames == 472
    assert dense.n_rows == info.n_frames
    assert dense.valid.mean() >= 0.98
    assert len(table.meta["tracks"]) == 1
    assert set(table.face_id[table.valid].tolist()) == {0}
    assert np.array_equal(dense.frame, np.arange(info.n_frames))
    # valid rows are fully populated, success is 1, confidence in (0, 1]
    assert np.isfinite(dense.values[dense.valid]).all()
    assert (_col(dense, "success")[dense.valid] == 1).all()
    conf = _col(dense, "confidence")[dense.valid]
    assert ((conf > 0) & (conf <= 1)).all()


def test_pose_and_gaze_are_plausible(wolfgang):
    _, _, dense = wolfgang
    tz = _col(dense, "pose_Tz")
    # a head filling ~half of a 360 px frame is roughly 0.2-0.6 m from the camera
    assert 200 < np.median(tz) < 600
    for name in ("pose_Rx", "pose_Ry", "pose_Rz"):
        assert np.abs(_col(dense, name)).max() < 0.8  # she never turns beyond ~45 deg
    for eye in (0, 1):
        g = np.stack([_col(dense, f"gaze_{eye}_{a}") for a in "xyz"], axis=1)
        np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, atol=1e-4)
        assert (g[:, 2] < 0).all()  # towards the camera, OpenFace's convention


def test_landmarks_inside_independent_detector_box(wolfgang, wolfgang_frames):
    _, _, dense = wolfgang
    detector = FaceDetector(0.5, full_range=True)
    checked = 0
    for i in range(0, 472, 40):
        boxes, _ = detector(wolfgang_frames[i])
        if len(boxes) != 1 or not dense.valid[i]:
            continue
        x0, y0, x1, y1 = boxes[0]
        w, h = x1 - x0, y1 - y0
        xs = np.array([_col(dense, f"x_{k}")[i] for k in range(68)])
        ys = np.array([_col(dense, f"y_{k}")[i] for k in range(68)])
        inner = slice(27, 68)  # nose, eyes, mouth: inside the box itself
        assert ((xs[inner] > x0) & (xs[inner] < x1) & (ys[inner] > y0) & (ys[inner] < y1)).all()
        # jaw and brows: inside the box grown by a quarter of its size
        assert ((xs > x0 - w / 4) & (xs < x1 + w / 4)).all()
        assert ((ys > y0 - h / 4) & (ys < y1 + h / 4)).all()
        checked += 1
    detector.close()
    assert checked >= 8


def test_ibug_order_left_right_and_top_bottom(wolfgang):
    _, _, dense = wolfgang
    v = dense.valid

    def xy(k):
        return _col(dense, f"x_{k}")[v], _col(dense, f"y_{k}")[v]

    # 36 = outer corner of the image-left eye, 45 = outer corner of the image-right eye
    assert (xy(36)[0] < xy(39)[0]).all() and (xy(42)[0] < xy(45)[0]).all()
    assert (xy(39)[0] < xy(42)[0]).all()
    assert (xy(48)[0] < xy(54)[0]).all()  # mouth corners
    assert (xy(19)[1] < xy(37)[1]).mean() > 0.95  # brow above eye
    assert (xy(30)[1] < xy(51)[1]).all() and (xy(57)[1] < xy(8)[1]).all()  # nose, lip, chin


def test_aus_smile_segment_raises_au12(wolfgang):
    _, _, dense = wolfgang
    au12 = _col(dense, "AU12_r")
    smile, no_smile = au12[300:420].mean(), au12[144:224].mean()
    assert smile > 3.0
    assert smile > no_smile + 2.0
    assert ((au12 >= 0) & (au12 <= 5)).all()


def test_aus_blinks_spike_au45(wolfgang):
    _, _, dense = wolfgang
    au45 = _col(dense, "AU45_r")
    for blink in (288, 386):
        assert au45[blink - 1 : blink + 2].max() >= 3.0
        before = au45[blink - 8 : blink - 3]
        after = au45[blink + 4 : blink + 9]
        assert before.max() < 1.0 and after.max() < 1.5
    # eyes open most of the time between the crying and the final squint
    assert np.median(au45[144:420]) < 0.3
    # crying with the eyes shut (frames 20-90) reads as closed eyes
    assert np.median(au45[20:90]) > 3.0


def test_geometry_components_vary_with_expression(wolfgang):
    _, _, dense = wolfgang
    geom = np.stack([_col(dense, f"geom_{k}") for k in range(64)], axis=1)
    assert np.isfinite(geom).all()
    # the first components carry more variance than the last ones (ordered PCA basis)
    assert geom[:, :4].std(0).mean() > 5 * geom[:, -4:].std(0).mean()
    # expression changes (crying vs smiling) move the leading components
    assert np.abs(geom[20:90, :8].mean(0) - geom[300:420, :8].mean(0)).max() > 1.0


#: test clips the shipped geometry basis was NOT fitted on (see docs/faces.md)
HELD_OUT = ("d18.mp4", "single_face.mp4")


def test_geometry_basis_explains_held_out_faces(clips_dir):
    """The shipped PCA basis on the deformations of two people it never saw: the leading
    components explain most of their variance, as on the fitting data, and far more than a
    random basis of the same size (which explains 64 / 1404 = 5 % on average)."""
    from vafusion.faces.expression_pca import N_MESH, load_basis
    from vafusion.faces.fit_basis import explained_share, video_deformations

    with np.load(REPO / "src/vafusion/assets/faces/geometry_pca.npz") as z:
        sources, fitted_ratio = set(z["sources"].tolist()), z["explained_variance_ratio"]
    assert sources.isdisjoint(HELD_OUT) and len(sources) >= 5, sources
    comps, mean = load_basis()
    d = np.concatenate([video_deformations(clips_dir / n) for n in HELD_OUT])
    assert d.shape[1:] == (N_MESH, 3) and len(d) >= 250  # 216 + 72 frames, one face each

    def explained(basis: np.ndarray) -> float:
        return explained_share(d, basis, mean)

    # measured: 8 components 95 % (fitting data: 94 %), 64 components 99.6 % (99.9 %)
    assert explained(comps[:8]) > 0.9 and explained(comps[:8]) > fitted_ratio[:8].sum() - 0.05
    assert explained(comps) > 0.98
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(comps.shape[1], len(comps))))
    assert explained(q.T) < 0.15  # measured 4 %


# ---------------------------------------------------------------------------- mirror


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory, wolfgang_frames):
    """Frames 150-199 and 350-399 (head turned one way, then the other) and their mirror."""
    sel = list(range(150, 200)) + list(range(350, 400))
    frames = np.stack([wolfgang_frames[i] for i in sel])
    d = tmp_path_factory.mktemp("mirror")
    a = write_video(d / "orig.mp4", frames, fps=24)
    b = write_video(d / "mirror.mp4", np.ascontiguousarray(frames[:, :, ::-1]), fps=24)
    return select_face(_extract(a)[1]), select_face(_extract(b)[1])


def test_yaw_and_roll_change_sign_when_mirrored(mirrored):
    orig, mirr = mirrored
    assert orig.valid.all() and mirr.valid.all()
    yaw_o, yaw_m = _col(orig, "pose_Ry"), _col(mirr, "pose_Ry")
    assert yaw_o[:50].mean() * yaw_o[50:].mean() < 0  # the clip turns both ways
    turned = np.abs(yaw_o) > 0.08
    assert turned.sum() > 50
    assert (np.sign(yaw_m[turned]) == -np.sign(yaw_o[turned])).all()
    # MediaPipe's mesh is not exactly mirror-equivariant: a few degrees of disagreement
    assert np.abs(yaw_m + yaw_o).mean() < 0.05
    np.testing.assert_allclose(yaw_m, -yaw_o, atol=0.15)
    assert np.corrcoef(_col(orig, "pose_Rz"), _col(mirr, "pose_Rz"))[0, 1] < -0.9
    assert np.corrcoef(_col(orig, "pose_Tx"), _col(mirr, "pose_Tx"))[0, 1] < -0.9
    # pitch does not change under a horizontal mirror
    assert np.abs(_col(mirr, "pose_Rx") - _col(orig, "pose_Rx")).mean() < 0.05
    assert np.corrcoef(_col(orig, "gaze_angle_x"), _col(mirr, "gaze_angle_x"))[0, 1] < -0.8


# ---------------------------------------------------------------------------- no face


def test_no_face_all_invalid_with_warning(clips_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="vafusion"):
        info, table = _extract(clips_dir / "no_face.mp4")
    assert info.n_frames == 95
    assert table.n_rows == 95 and not table.valid.any()
    assert (table.face_id == -1).all() and np.isnan(table.values).all()
    assert table.meta["tracks"] == []
    assert any("no face" in r.getMessage() for r in caplog.records)
    with caplog.at_level(logging.WARNING, logger="vafusion"):
        dense = select_face(table, how="main")
    assert dense.n_rows == 95 and not dense.valid.any()
    assert select_face(table, how="all").n_rows == 95
    assert select_face(table, how="left").n_rows == 95


def test_face_leaves_part_way(clips_dir):
    info, table = _extract(clips_dir / "face_noface.mov")
    dense = select_face(table)
    assert dense.n_rows == info.n_frames == 169
    valid = dense.valid
    assert valid[:50].mean() > 0.95
    assert not valid[-60:].any()
    first_lost = int(np.argmin(valid))
    assert 50 <= first_lost <= 110
    assert np.isnan(dense.values[~valid]).all()


# ---------------------------------------------------------------------------- multi-face


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory, clips_dir):
    """Wolfgang (left) and d18 (right) side by side, the right face blacked out in 40-45."""
    path = two_face_video(tmp_path_factory.mktemp("two") / "two.mp4", clips_dir, 96)
    info, table = _extract(path)
    return info, table


def test_two_faces_two_stable_tracks(two_faces):
    info, table = two_faces
    tracks = table.meta["tracks"]
    assert len(tracks) == 2
    by_x = sorted(tracks, key=lambda t: t["mean_cx"])
    assert by_x[0]["mean_cx"] < 640 < by_x[1]["mean_cx"]
    left_id, right_id = by_x[0]["face_id"], by_x[1]["face_id"]
    assert by_x[0]["frames"] >= 94  # the left face is never occluded
    # the right face keeps its id through the occlusion and is absent only then
    right_frames = table.frame[table.face_id == right_id]
    assert 86 <= len(right_frames) <= 92
    assert right_frames.min() <= 1 and right_frames.max() == 95
    missing = np.setdiff1d(np.arange(96), right_frames)
    assert ((missing >= 40) & (missing <= 47)).all()
    # no track ever jumps between the two halves of the image
    for fid, (lo, hi) in ((left_id, (0, 640)), (right_id, (640, 1000))):
        rows = table.face_id == fid
        x = _col(table, "x_30")[rows]
        assert ((x > lo) & (x < hi)).all()


def test_two_faces_subject_selection(two_faces):
    info, table = two_faces
    by_x = sorted(table.meta["tracks"], key=lambda t: t["mean_cx"])
    left = select_face(table, how="left")
    right = select_face(table, how="right")
    assert left.n_rows == right.n_rows == info.n_frames
    assert left.meta["selected_face"] == by_x[0]["face_id"]
    assert right.meta["selected_face"] == by_x[1]["face_id"]
    assert (_col(left, "x_30")[left.valid] < 640).all()
    assert (_col(right, "x_30")[right.valid] > 640).all()
    assert not right.valid[41:45].any()
    assert (right.face_id[~right.valid] == -1).all()
    by_id = select_face(table, how=by_x[1]["face_id"])
    np.testing.assert_array_equal(by_id.values, right.values)
    every = select_face(table, how="all")
    assert every.n_rows == 2 * info.n_frames
    assert np.array_equal(every.frame[::2], np.arange(info.n_frames))
    assert every.valid.sum() == table.valid.sum()
    with pytest.raises(ConfigError):
        select_face(table, how=7)
    with pytest.raises(ConfigError):
        select_face(table, how="middle")


# ---------------------------------------------------------------------------- scale, crops


def test_downscaled_decode_reports_original_pixels(clips_dir, tmp_path):
    path = clips_dir / "single_face.mp4"
    _, full = _extract(path)
    crops = tmp_path / "cropped_aligned"
    _, small = _extract(path, FacePoseConfig(aligned_dir=str(crops)), max_side=320)
    a, b = select_face(full), select_face(small)
    both = a.valid & b.valid
    assert both.mean() > 0.9
    xs = [a.columns.index(f"x_{k}") for k in range(68)]
    diff = np.abs(a.values[both][:, xs] - b.values[both][:, xs])
    assert np.median(diff) < 4.0  # px of the 640-wide original, not of the 320 decode
    # aligned crops written like Aff-Wild2's cropped_aligned/<video>/<00001>.jpg
    files = sorted((crops / "single_face").glob("*.jpg"))
    assert len(files) == int(b.valid.sum())
    assert files[0].name == f"{int(np.flatnonzero(b.valid)[0]) + 1:05d}.jpg"
    import cv2

    assert cv2.imread(str(files[0])).shape == (112, 112, 3)
    # the crop location does not enter the config hash
    default = PipelineConfig.of("facepose")
    assert set_key(FacePoseSet(FacePoseConfig(aligned_dir="x")), default) == (
        set_key(FacePoseSet(), default)
    )


def test_tracker_observations_and_aligned_crop(clips_dir):
    tracker = FaceTracker()
    tracker.reset()
    faces = []
    for frame in iter_frames(clips_dir / "d20.mp4"):
        faces.append(tracker.process(frame))
        if frame.index >= 30:
            break
    tracker.close()
    assert all(len(f) == 1 for f in faces)
    obs = faces[-1][0]
    assert obs.landmarks.shape == (478, 3) and obs.aligned.shape == (112, 112, 3)
    x0, y0, x1, y1 = obs.bbox
    assert 0 <= x0 < x1 <= 480 and 0 <= y0 < y1 <= 480
    # the aligned crop is a face, not background: MediaPipe finds one in it
    det = FaceDetector(0.5, full_range=False)
    boxes, _ = det(np.ascontiguousarray(np.pad(obs.aligned, ((56, 56), (56, 56), (0, 0)))))
    det.close()
    assert len(boxes) == 1


def test_consumer_error_propagates_from_overlapped_decode(clips_dir):
    class Failing(FacePoseAccumulator):
        name = "failing"

        def push(self, frame, faces):
            if frame.index == 5:
                raise RuntimeError("consumer failed")
            super().push(frame, faces)

    with (
        Pipeline("facepose") as pipe,
        pytest.raises(RuntimeError, match="consumer failed"),
    ):
        pipe.process(clips_dir / "single_face.mp4", extra=[Failing(FacePoseConfig(), "x")])


def test_small_face_in_wide_shot_is_tracked(wolfgang_frames, tmp_path):
    """A ~60 px face in a 1280x720 frame: found by the full-range detector and tracked in
    its magnified window."""
    import cv2

    frames = []
    for im in wolfgang_frames[:30]:
        canvas = np.full((720, 1280, 3), 60, np.uint8)
        small = cv2.resize(im, (154, 86))  # the face is ~60 px tall
        canvas[400:486, 800:954] = small
        frames.append(canvas)
    _, table = _extract(write_video(tmp_path / "wide.mp4", np.stack(frames), fps=24))
    dense = select_face(table)
    assert dense.valid.mean() >= 0.9
    x30 = _col(dense, "x_30")[dense.valid]  # nose tip inside the pasted picture
    assert ((x30 > 800) & (x30 < 954)).all()


def test_extraction_is_deterministic(clips_dir):
    _, a = _extract(clips_dir / "single_face.mp4")
    _, b = _extract(clips_dir / "single_face.mp4")
    assert a.valid.sum() >= 60
    np.testing.assert_array_equal(a.face_id, b.face_id)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.meta["config"] == b.meta["config"]


def test_column_subset_equals_the_full_tables_columns_and_keys_apart(clips_dir):
    path = clips_dir / "single_face.mp4"
    _, full = _extract(path)
    wanted = ("pose_Rx", "AU12_r", "confidence", "geom_3")
    _, part = _extract(path, FacePoseConfig(columns=wanted))
    assert part.columns == ["confidence", "pose_Rx", "geom_3", "AU12_r"]  # the set's order
    idx = [full.columns.index(c) for c in part.columns]
    np.testing.assert_array_equal(part.values, full.values[:, idx])
    np.testing.assert_array_equal(part.frame, full.frame)
    default = PipelineConfig.of("facepose")
    assert set_key(FacePoseSet(FacePoseConfig(columns=wanted)), default) != (
        set_key(FacePoseSet(), default)
    )
    # the default's key is the one stores had before the option existed
    assert "columns" not in FacePoseSet().identity()["config"]
    with pytest.raises(ConfigError, match="AU99_r"):
        FacePoseConfig(columns=("AU99_r",))


def test_long_form_completion_sorts_and_fills_across_gather_blocks(monkeypatch):
    """SYNTHETIC rows, shuffled, with frames missing: same as a plain sort-and-fill."""
    from vafusion.faces import subjects

    rng = np.random.default_rng(0)
    frames = np.repeat(np.arange(0, 40, 2), 2)  # odd frames missing, two faces per frame
    ids = np.tile([1, 0], 20)
    values = rng.normal(size=(40, 3)).astype(np.float32)
    perm = rng.permutation(40)
    valid = np.ones(40, bool)
    monkeypatch.setattr(subjects, "_GATHER_BLOCK", 7)  # many blocks (the default is 8192)
    fr, fid, vals, ok = subjects.complete_long_form(
        frames[perm], ids[perm], values[perm], valid[perm], 40
    )
    assert list(fr) == sorted([*frames, *range(1, 41, 2)])
    present = fid >= 0
    assert ok.tolist() == present.tolist() and np.isnan(vals[~present]).all()
    want = {(int(f), int(i)): v for f, i, v in zip(frames, ids, values, strict=True)}
    for f, i, v in zip(fr[present], fid[present], vals[present], strict=True):
        np.testing.assert_array_equal(v, want[(int(f), int(i))])
    assert [list(fid[fr == f]) for f in (0, 1)] == [[0, 1], [-1]]


def test_without_irises_the_mesh_has_nan_iris_points_and_gaze(clips_dir):
    """``TrackerConfig(irises=False)``: MediaPipe's plain mesh; expression measures stay."""
    from vafusion.faces.tracker import TrackerConfig

    path = clips_dir / "single_face.mp4"
    plain = PipelineConfig.of("facepose", faces=TrackerConfig(irises=False))
    with Pipeline(plain) as pipe:
        table = pipe.process(path)["facepose"]
    _, refined = _extract(path)
    ok = table.valid
    assert ok.sum() >= 60
    gaze = table.values[ok][:, table.columns.index("gaze_angle_x")]
    assert np.isnan(gaze).all()
    iris = [c for c in table.columns if c.startswith("eye_lmk_x_")][16:21]  # right iris
    assert np.isnan(table.values[ok][:, [table.columns.index(c) for c in iris]]).all()
    for name in ("AU12_r", "AU25_r", "pose_Ry", "geom_0", "confidence"):
        x = _col(table, name)[ok]
        assert np.isfinite(x).all(), name
    # the same face measured by the plain model: pose within a few degrees
    both = ok & refined.valid
    ry = np.degrees(_col(table, "pose_Ry")[both] - _col(refined, "pose_Ry")[both])
    assert np.median(np.abs(ry)) < 3.0
    # tracked without irises: a store key of its own; with them (the default): the old key
    assert set_key(FacePoseSet(), plain) != set_key(FacePoseSet(), PipelineConfig.of("facepose"))
    assert "irises" not in set_provenance(FacePoseSet(), PipelineConfig.of("facepose"))["faces"]
    with pytest.raises(ConfigError, match="iris"):
        PipelineConfig.of("blendshapes", faces=TrackerConfig(irises=False))
