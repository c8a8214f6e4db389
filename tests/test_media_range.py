"""Range decoding (``scan(start_s=, stop_s=)``): the same frames as a full decode, sliced."""

from __future__ import annotations

import numpy as np
import pytest

from vafusion.errors import MediaError
from vafusion.io.media import scan


def _decode(path, **kw) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    pixels: dict[float, np.ndarray] = {}
    _, ts = scan(path, lambda f: pixels.setdefault(f.timestamp, f.image[::9, ::9].copy()), **kw)
    return ts, pixels


@pytest.mark.parametrize("name", ["WolfgangLanger_Pexels.mp4", "face_noface.mov"])
def test_range_is_a_slice_of_the_full_decode(clips_dir, name):
    path = clips_dir / name
    ts, pixels = _decode(path)
    # at a keyframe (3.0 s / 2.0 s), between keyframes, open-ended on either side
    for lo, hi in [(ts[72], ts[144]), (ts[50], ts[130]), (ts[5], None), (None, ts[10])]:
        got_ts, got = _decode(path, start_s=lo, stop_s=hi)
        keep = (ts >= (-np.inf if lo is None else lo)) & (ts < (np.inf if hi is None else hi))
        np.testing.assert_array_equal(got_ts, ts[keep])  # same times, same axis
        for t in got_ts:
            np.testing.assert_array_equal(got[t], pixels[t])  # same pictures


def test_range_info_and_indices(sample_clip):
    seen: list[int] = []
    info, ts = scan(sample_clip, lambda f: seen.append(f.index), start_s=3.0, stop_s=6.0)
    assert info.n_frames == len(ts) == len(seen) == 72
    assert seen == list(range(72))
    assert ts[0] == pytest.approx(3.0, abs=0.05)


def test_empty_range_is_one_clear_error(sample_clip):
    with pytest.raises(MediaError, match=r"Pexels.mp4.*no decodable video frames in"):
        scan(sample_clip, start_s=100.0, stop_s=101.0)
