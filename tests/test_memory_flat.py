"""Memory of ``vafusion predict`` does not grow with video length.

The long videos are *synthetic*: the bundled sample clip (real faces) looped by
benchmarks/loop_clip.py. The peaks are sampled over the whole process tree (main process,
chunk workers, fork server) by benchmarks/bench_memory.py: the growth is checked on the
private memory (USS), which other processes on the machine do not change;
``--stride 2`` keeps the test shorter (every frame is still decoded and gets a row).
"""

from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_memory import peak_memory  # noqa: E402
from loop_clip import loop_clip  # noqa: E402

MIB = 1024 * 1024


@pytest.mark.slow
def test_predict_peak_memory_is_flat_in_video_length(tmp_path, sample_clip):
    peaks, pss = {}, {}
    for seconds in (90, 360):
        clip = loop_clip(sample_clip, tmp_path / f"loop{seconds}.mp4", seconds)
        out = tmp_path / f"out{seconds}"
        cmd = [sys.executable, "-m", "vafusion", "-q", "predict", str(clip), "--out", str(out)]
        r = peak_memory([*cmd, "--stride", "2", "--jobs", "2"])
        peaks[seconds], pss[seconds] = r["peak_uss"], r["peak_total"]
        assert (out / f"loop{seconds}.csv").is_file()
    assert pss[360] < 1024 * MIB, {k: v / MIB for k, v in pss.items()}
    # four times the video, about the same peak. What may differ: the per-frame result
    # tables (~100 numbers per analysed frame: a few MB more here), which chunk
    # transitions the workers' look-ahead hits (up to 3 chunks of <= 30 s wait for their
    # turn, ~45 MB of faces at stride 2; the peak rises over the first ~90 s of video),
    # and the sampler's noise (~30 MiB). Measured alone: 19 and 36 MiB. Two failures this
    # bound caught: keeping every analysed face's crop and landmarks (~43 kB each; ~4,300
    # vs ~1,080 faces at stride 2 and 24 fps) added ~370 MiB; building the report's
    # embedded video as strings (~5 copies of its base64 text, 24 vs 6 MB of video
    # here) added 130-170 MiB.
    assert peaks[360] - peaks[90] < 96 * MIB, {k: v / MIB for k, v in peaks.items()}
