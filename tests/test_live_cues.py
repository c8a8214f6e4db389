"""The default model in live mode (causal cues) against the offline pass, on the bundled clip."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.faces.facepose import FacePoseConfig
from vafusion.io.media import iter_frames
from vafusion.predict.live_cues import (
    FORGET_AFTER_S,
    MIN_NEUTRAL_SAMPLES,
    LiveCueTrack,
    PriorLiveSession,
    TimeWindow,
)


@pytest.fixture(scope="module")
def tracked(default_model, sample_clip):
    """(timestamp, faces, original size) of every frame of the bundled clip."""
    tracker = default_model.new_tracker()
    frames = []
    for vf in iter_frames(sample_clip, max_side=default_model.config.max_side):
        faces = tracker.process(vf)
        h, w = vf.image.shape[:2]
        frames.append((vf.timestamp, faces, (round(w / vf.scale), round(h / vf.scale))))
    tracker.close()
    return frames


def run(session, frames, face_id=0):
    va = np.full((len(frames), 2), np.nan)
    conf = np.full(len(frames), np.nan)
    for i, (t, faces, size) in enumerate(frames):
        for r in session.step(t, [f for f in faces if f.face_id == face_id], size):
            va[i], conf[i] = r.va, np.nan if r.confidence is None else r.confidence
    return va, conf


def test_live_cues_follow_the_offline_model(default_model, tracked, sample_clip):
    offline = default_model.predict_video(sample_clip).faces[0]
    live, conf = run(default_model.live_session(), tracked, offline.face_id)
    ok = np.isfinite(live[:, 0]) & np.isfinite(offline.va[:, 0])
    assert ok.sum() > 400
    # same per-frame confidence formula, from the same meshes and crops
    np.testing.assert_allclose(conf[ok], offline.confidence[ok], atol=1e-4)
    # valence: the same prior, causally smoothed; crying (48-130) below broad smiles (300-470)
    assert np.corrcoef(live[ok, 0], offline.va[ok, 0])[0, 1] > 0.95
    assert live[48:130, 0].mean() < 0.0 < live[300:470, 0].mean()
    # arousal from the face cues made causal: r 0.83 measured (the prior alone: 0.49, so
    # a live mode that dropped the cues fails here); the spread is ~1.2x the offline one
    # (one smoothing pass instead of two, and each track's warm-up)
    r = np.corrcoef(live[ok, 1], offline.va[ok, 1])[0, 1]
    prior_only, _ = run(PriorLiveSession(default_model), tracked, offline.face_id)
    r_prior = np.corrcoef(prior_only[ok, 1], offline.va[ok, 1])[0, 1]
    assert r > 0.75 and r > r_prior + 0.15, (r, r_prior)
    ratio = live[ok, 1].std() / offline.va[ok, 1].std()
    assert 0.8 < ratio < 1.6
    assert abs(live[ok, 1].mean() - offline.va[ok, 1].mean()) < 0.1


def test_activation_waits_for_a_neutral_and_speeds_for_a_lag(default_model, tracked):
    track = LiveCueTrack(default_model.config, FacePoseConfig())
    seen = []
    for t, faces, size in tracked[:60]:
        probs = default_model.classify(faces[0].aligned[None])[0]
        seen.append(track.update(t, probs, faces[0], size)[2])
    first_activation = next(i for i, c in enumerate(seen) if np.isfinite(c["activation"]))
    # one neutral sample every 3rd frame: the 10th arrives on frame 27
    assert first_activation == 3 * (MIN_NEUTRAL_SAMPLES - 1)
    assert np.isnan(seen[0]["velocity"]) and np.isnan(seen[0]["head_motion"])
    assert all(np.isfinite(c["velocity"]) for c in seen[6:])  # 0.2 s at 24 fps


def test_tracks_unseen_for_a_minute_are_forgotten(default_model, tracked):
    session = default_model.live_session()
    t, faces, size = tracked[0]
    session.step(t, faces, size)
    assert session.tracks
    session.step(t + FORGET_AFTER_S / 2, [], size)
    assert session.tracks
    session.step(t + FORGET_AFTER_S + 1, [], size)
    assert not session.tracks


def test_time_window_interpolates_holds_and_drops():
    """Synthetic numbers (maths only)."""
    w = TimeWindow(span_s=1.0)
    for t in np.arange(0.0, 2.01, 0.5):
        w.push(float(t), np.array([t * 10.0, -t]))
    assert list(w.t) == [1.0, 1.5, 2.0]  # older than 1 s before the newest: dropped
    np.testing.assert_allclose(w.at(1.25), [12.5, -1.25])
    np.testing.assert_allclose(w.at(0.2), [10.0, -1.0])  # held at the oldest
    np.testing.assert_allclose(w.at(5.0), [20.0, -2.0])  # and the newest
    np.testing.assert_allclose(w.mean(), [15.0, -1.5])
