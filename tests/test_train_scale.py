"""Training at scale on SYNTHETIC data: a bounded number of open files whatever the number
of videos (300 small videos trained and evaluated from memory maps under a low
RLIMIT_NOFILE, in a subprocess), and the bounded map cache itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tests.train_helpers import write_synthetic_affwild2

from vafusion.data.mapcache import MapCache, MappedArray
from vafusion.errors import StoreError

#: Descriptor limit of the subprocess: far below the 300 videos' maps, above what Python,
#: torch and the bounded cache need.
LIMIT = 128

SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))
    from vafusion.data.mapcache import MAPS
    from vafusion.train import TrainConfig, evaluate, train
    from vafusion.models.fusion import ModelConfig
    aff, store, out = sys.argv[1:4]
    peak = [0]
    get = MAPS.get
    def counting(array):
        peak[0] = max(peak[0], len(os.listdir("/proc/self/fd")))
        return get(array)
    MAPS.get = counting
    cfg = TrainConfig(model=ModelConfig(name="audio", audio_units=(8, 4), head_units=4),
                      epochs=1, batch_size=64, num_threads=1, progress=False, patience=0,
                      data_memory="mmap")
    res = train(cfg, aff, store, out + "/run")
    m = evaluate(out + "/run", aff, store, "val", out + "/eval", data_memory="mmap")
    print(json.dumps({{"peak_fds": peak[0], "maps": len(MAPS), "opened": MAPS.opened,
                      "n_videos": m["n_videos"], "epochs": res.epochs_run}}))
    """
)


@pytest.fixture(scope="module")
def many_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    write_synthetic_affwild2(
        root / "aff", root / "store", {"audio": 6}, n_train=260, n_val=40, frames=(30, 45)
    )
    return root


@pytest.mark.slow
def test_open_files_bounded_with_300_videos(many_videos, tmp_path):
    env = {**os.environ, "VAFUSION_MAX_MAPS": "16", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(limit=LIMIT), str(many_videos / "aff"),
         str(many_videos / "store"), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["n_videos"] == 40 and got["epochs"] == 1
    assert got["maps"] <= 16 and got["opened"] > 300  # maps were recycled, not all kept
    assert got["peak_fds"] < LIMIT


def test_map_cache_is_bounded_and_reads_the_array(tmp_path):
    cache = MapCache(max_maps=3)
    arrays = []
    for i in range(10):
        x = np.arange(12, dtype=np.float32).reshape(4, 3) + i
        np.save(tmp_path / f"a{i}.npy", x)
        arrays.append((MappedArray(tmp_path / f"a{i}.npy", (4, 3), cache=cache), x))
    for _ in range(2):
        for m, x in arrays:
            np.testing.assert_array_equal(m[np.array([3, 0])], x[[3, 0]])
            np.testing.assert_array_equal(m[1:3], x[1:3])
            assert len(cache) <= 3
    assert cache.opened == 20  # LRU of 3 over 10 arrays cycled twice: every first read misses
    np.testing.assert_array_equal(np.asarray(arrays[0][0]), arrays[0][1])
    with pytest.raises(StoreError, match="expected"):
        MappedArray(tmp_path / "a0.npy", (5, 3))


def test_max_steps_stops_training_after_n_optimizer_steps(tmp_path):
    """SYNTHETIC videos: ``max_steps`` ends the run after exactly that many updates."""
    from vafusion.data.synthetic import synthetic_spec, synthetic_videos
    from vafusion.models import ModelConfig
    from vafusion.train import TrainConfig, fit
    from vafusion.train.checkpoint import load_checkpoint

    dims = {"audio": 6}
    tr = synthetic_videos(4, (200, 300), dims, seed=0)
    cfg = TrainConfig(
        model=ModelConfig(name="audio", audio_units=(8, 4), head_units=4), epochs=5,
        batch_size=8, num_threads=1, progress=False, patience=0, max_steps=7,
    )  # fmt: skip
    r = fit(cfg, tr, [], synthetic_spec(dims), tmp_path / "run")
    assert r.epochs_run == 1  # > 7 steps per epoch: stops inside the first epoch
    opt = load_checkpoint(tmp_path / "run" / "last.pt")["optimizer_state"]
    assert {int(s["step"]) for s in opt["state"].values()} == {7}
