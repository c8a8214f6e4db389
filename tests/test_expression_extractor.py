"""The ``expression`` feature set on real clips through the shared decode pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vafusion.expression.extractor import ExpressionConfig, ExpressionSet
from vafusion.expression.fer import FER_EMOTIONS
from vafusion.extraction import Pipeline
from vafusion.faces.types import FaceObservation
from vafusion.io.media import Video, VideoFrame

FIXTURE = Path(__file__).parent / "fixtures" / "expression" / "minixception_reference.npz"
EMO = [f"emo_{e}" for e in FER_EMOTIONS]


@pytest.fixture(scope="module")
def sample_table(sample_clip):
    with Pipeline("expression") as pipe:
        result = pipe.process(sample_clip)
    return result.info, result["expression"]


def test_columns_and_long_form(sample_table):
    info, t = sample_table
    assert t.name == "expression" and t.meta["valid_column"] == "face_valid"
    assert t.columns[:2] == ["expr_0", "expr_1"] and t.columns[127] == "expr_127"
    assert t.columns[128:] == EMO
    assert set(range(info.n_frames)) == set(t.frame.tolist())  # every frame has a row
    assert np.all(np.diff(t.frame) >= 0)
    assert t.valid.mean() > 0.9  # one woman, facing the camera nearly all the time
    assert t.meta["backbone"]["kind"] == "minixception"


def test_finite_on_valid_nan_on_invalid(sample_table):
    _, t = sample_table
    assert np.isfinite(t.values[t.valid]).all()
    assert np.isnan(t.values[~t.valid]).all()
    probs = t.values[t.valid][:, 128:]
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)


def test_class_probabilities_vary_over_time(sample_table):
    """She acts several emotions: the top class changes and probabilities move."""
    from vafusion.faces.subjects import select_face

    info, t = sample_table
    dense = select_face(t, n_frames=info.n_frames)
    assert dense.n_rows == info.n_frames
    probs = dense.values[dense.valid][:, 128:]
    top = probs.argmax(1)
    counts = np.bincount(top, minlength=7)
    assert (counts >= 10).sum() >= 2, counts  # at least two expressions held >= 10 frames
    assert probs.std(0).max() > 0.15
    # a smooth signal: consecutive frames agree far more than random pairs
    assert np.mean(top[1:] == top[:-1]) > 0.8


def test_no_face_clip_is_all_invalid(clips_dir):
    with Pipeline("expression") as pipe:
        result = pipe.process(clips_dir / "no_face.mp4")
    info, t = result.info, result["expression"]
    assert t.n_rows == info.n_frames == 95
    assert not t.valid.any() and np.isnan(t.values).all() and (t.face_id == -1).all()


def _crops(n: int) -> np.ndarray:
    import cv2

    faces = np.load(FIXTURE)["faces"]
    faces = faces[np.arange(n) % len(faces)]
    return np.stack([cv2.cvtColor(cv2.resize(f, (112, 112)), cv2.COLOR_GRAY2RGB) for f in faces])


def _face(fid: int, crop) -> FaceObservation:
    box = np.array([0, 0, 10, 10], np.float32)
    return FaceObservation(fid, box, np.zeros((478, 3), np.float32), crop, 0.9)


def test_push_batches_faces_and_marks_missing_crops():
    """Batch boundaries, several faces per frame, frames without faces, a missing crop."""
    from vafusion.io.media import VideoInfo

    crops = _crops(9)
    feature_set = ExpressionSet(ExpressionConfig(batch_size=3))
    ext = feature_set.accumulator(Video("synthetic"))
    plan = [[0, 1], [], [1], [0, 1], [None], [0, 1], [1], []]  # ids (None: bad crop)
    k = 0
    expected = []
    for i, ids in enumerate(plan):
        faces = []
        for fid in ids:
            if fid is None:  # an unusable (empty) crop
                faces.append(_face(2, np.zeros((0, 0, 3), np.uint8)))
                expected.append((i, 2, None))
            else:
                faces.append(_face(fid, crops[k]))
                expected.append((i, fid, k))
                k += 1
        if not ids:
            expected.append((i, -1, None))
        frame = VideoFrame(i, i / 25.0, np.zeros((8, 8, 3), np.uint8))
        ext.push(frame, faces[::-1])  # order of faces does not matter
    n = len(plan)
    info = VideoInfo("synthetic", n, 25.0, n / 25.0, 8, 8, 0, "h264", False, None)
    t = ext.finish(info, np.arange(n) / 25.0)
    assert list(zip(t.frame.tolist(), t.face_id.tolist(), strict=True)) == [
        (f, i) for f, i, _ in expected
    ]
    direct = feature_set.backbone(crops[:k])
    ref = np.concatenate([direct.embedding, direct.probs], axis=1)
    for row, (_, _, c) in enumerate(expected):
        if c is None:
            assert not t.valid[row] and np.isnan(t.values[row]).all()
        else:
            assert t.valid[row]
            np.testing.assert_allclose(t.values[row], ref[c], atol=1e-5)
    assert {tr["face_id"] for tr in t.meta["tracks"]} == {0, 1, 2}


#: frames of the bundled clip labelled by looking at them (a contact sheet of every 16th
#: frame, then the frames around each boundary): she cries with her eyes shut, brows drawn
#: together and the corners of the mouth down before her hand comes up to her mouth
#: (frames 16-55; the hand enters at 57), and laughs with an open, teeth-showing smile
#: (frames 304-439).
CRYING = range(16, 56)
SMILING = range(304, 440)


def test_class_order_matches_labelled_frames(sample_table):
    """The network's class list is in the order of its outputs: smiles come out "happy"
    and crying "sad" (swapping two names in ``FER_EMOTIONS`` fails here)."""
    from vafusion.faces.subjects import select_face

    info, t = sample_table
    dense = select_face(t, n_frames=info.n_frames)
    probs = dense.values[:, 128:]
    names = [c.removeprefix("emo_") for c in dense.columns[128:]]
    assert names == list(FER_EMOTIONS)
    for frames, label, share in ((SMILING, "happy", 0.95), (CRYING, "sad", 0.75)):
        rows = np.asarray(frames)
        assert dense.valid[rows].all(), f"face lost in the {label} frames"
        p = probs[rows]
        top = [names[i] for i in p.argmax(1)]
        assert np.mean([x == label for x in top]) >= share, (label, top)
        other = "sad" if label == "happy" else "happy"
        assert p[:, names.index(label)].mean() > 2 * p[:, names.index(other)].mean()
