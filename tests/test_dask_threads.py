"""Extraction through an existing Dask cluster whose worker runs 2 threads == in-process.

A real ``dask scheduler`` and ``dask worker --nthreads 2`` on loopback: the worker runs two
videos at once in one process, each thread with its own pipeline (face tracker and
per-video state); the stored features must be exactly those of an in-process pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.daemons import free_port, stop

from vafusion.extraction import Pipeline, extract
from vafusion.store import FeatureStore

CLIPS = ("d0.mp4", "single_face.mp4", "no_face.mp4", "d20.mp4", "face_noface.mov")
SETS = ("audio", "facepose", "expression")
DASK = Path(sys.executable).parent / "dask"


def _wait_for_workers(address: str, n_threads: int, timeout: float = 120.0) -> None:
    from distributed import Client

    with Client(address, timeout="60s") as client:
        t0 = time.monotonic()
        while sum(client.nthreads().values()) < n_threads:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("the dask worker did not start")
            time.sleep(0.5)


@pytest.mark.slow
def test_two_thread_worker_gives_in_process_features(tmp_path, clips_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    for clip in CLIPS:
        shutil.copyfile(clips_dir / clip, videos / clip)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    daemons = []
    try:
        for argv in (
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            [DASK, "worker", address, "--nworkers", "1", "--nthreads", "2", "--no-dashboard"],
        ):
            log = open(tmp_path / f"{argv[1]}.log", "w")  # noqa: SIM115
            daemons.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
            time.sleep(2)
        _wait_for_workers(address, 2)
        report = extract([videos], tmp_path / "store", ",".join(SETS), scheduler=address)
        assert report.ok and sorted(report.done) == sorted(Path(c).stem for c in CLIPS), report
    finally:
        stop(daemons)
    store = FeatureStore(tmp_path / "store", create=False)
    with Pipeline(SETS) as pipe:
        for clip in CLIPS:
            local = pipe.process(videos / clip)
            for name in SETS:
                stored = store.get(Path(clip).stem, name, local.keys[name])
                ref = local[name]
                np.testing.assert_array_equal(stored.frame, ref.frame)
                np.testing.assert_array_equal(stored.valid, ref.valid)
                np.testing.assert_array_equal(stored.values, ref.values, err_msg=f"{clip} {name}")
    assert store.get("single_face", "facepose").valid.any()
