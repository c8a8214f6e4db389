"""Within-video parallelism: time chunks in worker processes == one sequential pass.

Tolerance (the documented warm-up effect, see vafusion.parallel.local): same frames, times,
face ids and row count; before the first boundary, bit for bit; after it, the chunk's
tracker is an independent run of the face mesh, so landmarks differ by a fraction of a
pixel (median) and expression probabilities by well under 0.01 on average.
"""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.extraction import Pipeline
from vafusion.parallel.chunks import plan_chunks
from vafusion.parallel.local import ChunkPool, chunk_plan, process_chunked

SETS = ("facepose", "expression")


def test_plan_chunks_at_keyframes_cover_the_video():
    # synthetic keyframe times (maths only): every 3 s of a 60 s video
    kf = np.arange(0, 60, 3.0)
    plan = plan_chunks(kf, 60.0, 2, warmup_s=1.0, max_chunk_s=25.0)
    assert len(plan) == 3  # 60 s / 25 s -> 3 chunks although 2 were asked
    assert plan[0].start_s is None and plan[0].keep_s is None and plan[-1].stop_s is None
    for a, b in zip(plan[:-1], plan[1:], strict=True):
        assert a.stop_s == b.keep_s and b.keep_s in kf  # no gap, no overlap, at keyframes
        assert b.start_s == b.keep_s - 1.0  # warm-up
    # no keyframe where needed: one chunk
    assert len(plan_chunks(np.array([0.0]), 60.0, 4)) == 1


@pytest.fixture(scope="module")
def runs(sample_clip):
    with Pipeline(SETS) as pipe:
        seq = pipe.process(sample_clip).tables
        with ChunkPool(2) as pool:
            plan = chunk_plan(sample_clip, pool.workers)
            par = process_chunked(pipe, sample_clip, pool).tables
    return seq, par, plan


@pytest.mark.slow
def test_chunked_equals_sequential_within_tolerance(runs, sample_clip):
    seq, par, plan = runs
    assert len(plan) == 2 and plan[1].keep_s == pytest.approx(9.009, abs=1e-3)
    boundary = int(np.searchsorted(seq["expression"].timestamp, plan[1].keep_s))
    for name in SETS:
        a, b = seq[name], par[name]
        assert a.n_rows == b.n_rows
        np.testing.assert_array_equal(a.frame, b.frame)
        np.testing.assert_array_equal(a.timestamp, b.timestamp)
        np.testing.assert_array_equal(a.face_id, b.face_id)  # ids stitched across chunks
        np.testing.assert_array_equal(a.valid, b.valid)
        assert [t["face_id"] for t in a.meta["tracks"]] == [t["face_id"] for t in b.meta["tracks"]]
    # before the first boundary the expression features are bit for bit the same
    e_a, e_b = seq["expression"], par["expression"]
    before = e_a.frame < boundary
    np.testing.assert_array_equal(e_a.values[before], e_b.values[before])
    # after it: the warm-up effect, bounded
    lm = [i for i, c in enumerate(seq["facepose"].columns) if c[:2] in ("x_", "y_")]
    d_lm = np.abs(seq["facepose"].values[:, lm] - par["facepose"].values[:, lm])
    assert np.nanmedian(d_lm) < 0.25  # pixels
    probs = [i for i, c in enumerate(e_a.columns) if c.startswith("emo_")]
    d_p = np.abs(e_a.values[:, probs] - e_b.values[:, probs])
    assert np.nanmean(d_p) < 0.005


def _trackers_loaded() -> int:
    from vafusion.parallel import chunks

    return len(chunks._TRACKERS)


@pytest.mark.slow
def test_dask_chunk_tasks_equal_the_local_pool(runs, sample_clip):
    from distributed import Client, LocalCluster

    from vafusion.parallel.dask_chunks import DaskChunks

    _, local, plan = runs
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        chunks = DaskChunks(client)
        # models loaded once per worker process, before any task
        assert set(client.run(_trackers_loaded).values()) == {1}
        with Pipeline("expression") as pipe:
            dask = process_chunked(pipe, sample_clip, chunks).tables
        assert set(client.run(_trackers_loaded).values()) == {1}  # reused, not rebuilt
    a, b = local["expression"], dask["expression"]
    np.testing.assert_array_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.face_id, b.face_id)
    np.testing.assert_array_equal(a.values, b.values)  # same chunks: the same numbers


@pytest.mark.slow
def test_extract_chunks_one_video_locally_and_long_videos_on_dask(
    runs, sample_clip, clips_dir, tmp_path
):
    from vafusion.extraction import extract
    from vafusion.store import FeatureStore

    seq, _, _ = runs
    # one video, 2 workers: its chunks in 2 local processes (no cluster)
    local = extract([sample_clip], tmp_path / "local", "expression", workers=2)
    assert local.ok and local.executor == "local, 2 chunk processes"
    # two videos on a 2-worker cluster: the sample clip is chunked, d18 is one task
    d18 = clips_dir / "d18.mp4"
    dask = extract([sample_clip, d18], tmp_path / "dask", "expression", workers=2)
    assert dask.ok and sorted(dask.done) == ["WolfgangLanger_Pexels", "d18"]
    for store in (tmp_path / "local", tmp_path / "dask"):
        table = FeatureStore(store).get("WolfgangLanger_Pexels", "expression")
        np.testing.assert_array_equal(table.face_id, seq["expression"].face_id)
        np.testing.assert_array_equal(table.frame, seq["expression"].frame)


def test_long_videos_with_faces_become_chunk_tasks_largest_first(sample_clip, clips_dir):
    from vafusion.extraction import PipelineConfig
    from vafusion.parallel.extract_chunks import split_tasks

    faces, audio = PipelineConfig.of("expression"), PipelineConfig.of("audio")
    d18, d20 = clips_dir / "d18.mp4", clips_dir / "d20.mp4"
    chunked, whole = split_tasks([(d20, faces), (sample_clip, faces), (d18, faces)], 2)
    assert chunked == [(sample_clip, faces)]  # 19.7 s, keyframes every 3 s: 2 chunks
    assert [(p.name, s) for p, _, s in whole] == [("d18.mp4", 7), ("d20.mp4", 6)]  # longest 1st
    # audio gains nothing from chunks: stays one task
    assert split_tasks([(sample_clip, audio)], 2)[0] == []


def test_a_pool_tracking_with_other_settings_is_refused(sample_clip):
    """Workers tracking with other settings than the pipeline's would store features under
    a key that does not describe them: refused before any work."""
    from vafusion.errors import ConfigError
    from vafusion.faces.tracker import TrackerConfig
    from vafusion.predict.default_model import DefaultModel
    from vafusion.predict.runner import pool_tracker_config

    with (
        Pipeline("facepose") as pipe,
        ChunkPool(1, TrackerConfig(irises=False)) as pool,
        pytest.raises(ConfigError, match="tracker settings differ"),
    ):
        process_chunked(pipe, sample_clip, pool)
    # predict starts its workers before the model loads, with the model's settings
    assert pool_tracker_config("default") == DefaultModel.default_tracker_config()
    assert not pool_tracker_config("default").irises
