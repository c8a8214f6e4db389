"""Report pieces without a browser: distinct moments, the video embedding cap, the
player's data (synthetic curves, labelled as such, where the maths is the point)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vafusion.errors import ConfigError
from vafusion.predict.outputs import _moments
from vafusion.report.player import (
    EmbeddedVideo,
    ReportOptions,
    render_player,
    video_source,
    write_page,
)


def test_moments_are_a_gap_apart():
    """Synthetic curve: the three extremes sit within 1 s; the moments must be >= 3 s apart."""
    t = np.arange(0, 60, 0.04)
    va = np.zeros((len(t), 2))
    va[:, 0] = np.sin(t / 7)
    va[(t > 20) & (t < 21), 0] = 0.95  # most positive
    va[(t > 20.4) & (t < 21), 1] = 0.9  # most aroused, same moment
    va[(t > 20.6) & (t < 21), 0] = -0.99  # most negative, same moment
    valid = np.ones(len(t), bool)
    got = _moments(va, valid, t)
    assert [m["label"] for m in got] == ["most positive", "most negative", "most aroused"]
    times = sorted(m["timestamp"] for m in got)
    assert min(np.diff(times)) >= 3.0, times
    short = _moments(va[:50], valid[:50], t[:50])  # 2 s clip: gap is a quarter of it
    assert len({m["frame"] for m in short}) == len(short)


def test_video_embedded_under_cap_linked_above_with_note(tmp_path, clips_dir):
    clip = clips_dir / "single_face.mp4"
    src, note = video_source(clip, tmp_path, "embed")
    assert isinstance(src, EmbeddedVideo) and src.mime == "video/mp4" and note is None
    src, note = video_source(clip, tmp_path, "embed", max_embed_mb=0.01)
    assert not src.startswith("data:") and src.endswith("single_face.mp4")
    assert "larger than the embedding cap" in note
    src, note = video_source(clip, tmp_path, "none")
    assert src is None and "--no-video" in note
    with pytest.raises(ConfigError):
        ReportOptions(video="stream")


class _SmallBlocks(EmbeddedVideo):
    BLOCK = 3 * 1000  # many blocks on a small clip (the default is 3 MiB)


@pytest.mark.parametrize("cls", [EmbeddedVideo, _SmallBlocks])
def test_embedded_video_is_streamed_into_the_page_byte_exact(tmp_path, clips_dir, cls):
    import base64

    clip = clips_dir / "single_face.mp4"
    video = cls(clip, "video/mp4")
    data = {"t": [0.0], "duration": 1.0, "faces": [{"id": 0, "box": None, "expr": None}]}
    page = "<html>" + render_player(data, video, None) + "</html>"
    assert page.count(video.marker) == 1
    out = tmp_path / "r.html"
    write_page(out, page, video)
    text = out.read_text(encoding="utf-8")
    assert video.marker not in text and text.endswith("</html>")
    uri = text.split("src='")[1].split("'")[0]
    assert uri.startswith("data:video/mp4;base64,")
    assert base64.b64decode(uri.split(",", 1)[1], validate=True) == clip.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary left


def test_player_json_cannot_close_its_script_block():
    data = {"t": [0.0], "duration": 1.0, "faces": [{"id": 0, "box": None, "expr": None,
            "note": "</script><script>alert(1)</script>"}]}  # fmt: skip
    html = render_player(data, None, None)
    block = html.split("<script type='application/json' id='va-data'>")[1].split("</script>")[0]
    assert json.loads(block)["faces"][0]["note"].startswith("</script>")


def test_reprs_are_one_line_without_arrays():
    """SYNTHETIC arrays: print(FeatureTable) and print(VideoPrediction) stay one short line."""
    from vafusion.features.base import FeatureTable
    from vafusion.io.media import VideoInfo
    from vafusion.predict.types import FaceCurve, VideoPrediction

    n = 5000
    table = FeatureTable("audio", np.arange(n), np.arange(n) / 25, np.zeros((n, 168)),
                         [f"audio_mfcc_{i}" for i in range(168)], np.ones(n, bool))  # fmt: skip
    text = repr(table)
    assert "\n" not in text and len(text) < 200 and "rows=5000, dim=168" in text
    assert str(table) == text
    fields = VideoInfo.__dataclass_fields__
    info = VideoInfo(**{k: (0 if k != "path" else "clip.mp4") for k in fields
                        if fields[k].default is fields[k].default_factory})  # fmt: skip
    curve = FaceCurve(0, np.ones(n, bool), np.zeros((n, 2)), np.zeros((n, 4)))
    pred = VideoPrediction(info, np.arange(n) / 25, [curve])
    text = repr(pred)
    assert "\n" not in text and len(text) < 200 and "frames=5000" in text
