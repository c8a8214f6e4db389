"""Probing and decoding real clips with PyAV (and media files built by the tests)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import CLIP_FRAMES
from media_factory import gradient_frames, write_video
from vafusion.errors import MediaError
from vafusion.io.audio import load_audio
from vafusion.io.media import iter_frames, probe, scan


@pytest.mark.parametrize("name", sorted(CLIP_FRAMES))
def test_probe_counts_decoded_frames(clips_dir, name):
    info = probe(clips_dir / name)
    assert info.n_frames == CLIP_FRAMES[name]
    assert info.fps > 20
    assert info.duration_s == pytest.approx(info.n_frames / info.fps, rel=0.05)
    assert info.width > 0 and info.height > 0


def test_probe_reports_streams(clips_dir):
    d0 = probe(clips_dir / "d0.mp4")
    assert d0.has_audio is False and d0.audio_sample_rate is None
    mp3 = probe(clips_dir / "single_face.mp4")
    assert mp3.has_audio and mp3.audio_codec.startswith("mp3")
    hevc = probe(clips_dir / "face_noface.mov")
    assert hevc.video_codec == "hevc"
    assert hevc.audio_offset_s == pytest.approx(2.43, abs=0.01)  # audio starts late
    portrait = probe(clips_dir / "d13.mp4")
    assert (portrait.width, portrait.height) == (720, 1280)
    # the container's count is a guess: no_face.mp4 claims 98 frames, 95 decode
    nf = probe(clips_dir / "no_face.mp4")
    assert nf.container_n_frames == 98 and nf.n_frames == 95


def test_variable_frame_rate_timestamps_are_the_truth(clips_dir):
    info, t = scan(clips_dir / "face_noface.mov")
    assert len(t) == info.n_frames
    assert t[0] == 0.0 and np.all(np.diff(t) > 0)
    d = np.diff(t)
    assert d.max() / d.min() > 1.05  # really variable
    assert t[-1] == pytest.approx(6.36, abs=0.01)  # not (n-1)/fps


def test_iter_frames_streams_rgb_with_timestamps(clips_dir):
    info, t = scan(clips_dir / "d20.mp4")
    frames = iter_frames(clips_dir / "d20.mp4")
    first = next(frames)
    assert first.image.shape == (480, 480, 3) and first.image.dtype == np.uint8
    rest = [(f.index, f.timestamp) for f in frames]
    assert len(rest) + 1 == info.n_frames
    assert np.allclose([ts for _, ts in rest], t[1:])


def test_iter_frames_downscales_in_decoder(clips_dir):
    f = next(iter_frames(clips_dir / "d13.mp4", max_side=640))
    assert max(f.image.shape[:2]) == 640
    assert f.image.shape[:2] == (640, 360)
    assert f.scale == pytest.approx(0.5)


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_is_applied(tmp_path, rotation):
    frames = gradient_frames(5, height=64, width=96)
    path = write_video(tmp_path / "rot.mp4", frames, 25, rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation and (info.width, info.height) == (64, 96)
    image = next(iter_frames(path)).image
    assert image.shape == (96, 64, 3)
    expected = np.rot90(frames[0], k=rotation // 90)  # displayed = rotated counter-clockwise
    assert np.abs(image.astype(int) - expected.astype(int)).mean() < 4  # codec noise only


def test_scan_callback_sees_every_frame(clips_dir):
    seen = []
    info, t = scan(
        clips_dir / "single_face.mp4", lambda f: seen.append(f.image.shape), max_side=320
    )
    assert len(seen) == info.n_frames == 72
    assert seen[0] == (180, 320, 3)


def test_audio_mono_float32_resampled(clips_dir):
    sig = load_audio(clips_dir / "d20.mp4", 16_000)
    assert sig.samples.dtype == np.float32 and sig.samples.ndim == 1
    assert len(sig.samples) / 16_000 == pytest.approx(7.0, abs=0.2)
    assert np.abs(sig.samples).max() > 0.01  # a talking face: not silence
    assert load_audio(clips_dir / "d0.mp4") is None


def test_audio_start_offset_is_kept(clips_dir):
    sig = load_audio(clips_dir / "face_noface.mov", 16_000)
    assert sig.start_s == pytest.approx(2.43, abs=0.01)
    lead = int(2.4 * 16_000)
    assert not sig.samples[:lead].any()  # zeros before the audio starts


def test_written_offset_round_trip(tmp_path):
    sr = 16_000
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(sr * 2) / sr)).astype(np.float32)
    path = write_video(
        tmp_path / "late.mkv", gradient_frames(75), 25, audio=tone, audio_start_s=0.8
    )
    info = probe(path)
    assert info.audio_offset_s == pytest.approx(0.8, abs=1e-3)
    sig = load_audio(path, sr)
    first = np.argmax(np.abs(sig.samples) > 0.05) / sr
    assert first == pytest.approx(0.8, abs=0.005)


# --- errors ---------------------------------------------------------------------------


def test_missing_file():
    with pytest.raises(MediaError, match="no such file"):
        probe("/nonexistent/x.mp4")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(MediaError, match="empty file") as exc:
        probe(p)
    assert str(p) in str(exc.value)


def test_text_file_named_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="not a readable media file"):
        probe(p)


def test_truncated_video_gives_decodable_frames(tmp_path, clips_dir, caplog):
    data = (clips_dir / "WolfgangLanger_Pexels.mp4").read_bytes()  # index at the start
    p = tmp_path / "half.mp4"
    p.write_bytes(data[: len(data) // 2])
    info = probe(p)
    assert 150 < info.n_frames < 472 and info.decode_errors >= 1
    assert any(
        "truncated" in r.getMessage() and "half.mp4" in r.getMessage() for r in caplog.records
    )
    assert sum(1 for _ in iter_frames(p)) == info.n_frames


def test_truncated_video_without_index_is_one_clear_error(tmp_path, clips_dir):
    data = (clips_dir / "single_face.mp4").read_bytes()  # index at the end: cut away
    p = tmp_path / "half.mp4"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="half.mp4: not a readable media file"):
        probe(p)


def test_cli_probe_json(clips_dir):
    out = subprocess.run(
        [sys.executable, "-m", "vafusion", "probe", str(clips_dir / "d0.mp4"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    for key in ("path", "n_frames", "fps", "duration_s", "width", "height", "rotation"):
        assert key in info
    assert info["has_audio"] is False and info["n_frames"] == 78
    assert info["video_codec"] == "h264" and info["audio_sample_rate"] is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty file"), (b"hello world" * 100, "not a readable media file"), (None, "no such")],
)
def test_cli_errors_are_one_line(tmp_path, content, expected):
    p = tmp_path / "bad file é.mp4"
    if content is not None:
        p.write_bytes(content)
    out = subprocess.run(
        [sys.executable, "-m", "vafusion", "probe", str(p)], capture_output=True, text=True
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"error: {p}: ") and expected in lines[0]
    assert "Traceback" not in out.stderr


def test_every_command_has_help_with_an_example():
    out = subprocess.run(
        [sys.executable, "-m", "vafusion", "--help"], capture_output=True, text=True, check=True
    )
    for cmd in ("probe", "extract", "export", "train", "evaluate", "ablate", "predict", "demo"):
        assert cmd in out.stdout
        helptext = subprocess.run(
            [sys.executable, "-m", "vafusion", cmd, "--help"], capture_output=True, text=True
        )
        assert helptext.returncode == 0
        assert re.search(r"Examples?:\s+vafusion " + cmd, helptext.stdout), helptext.stdout
