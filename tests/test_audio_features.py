"""The paper's 168-d audio features: segmentation maths, alignment, real clips."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from media_factory import gradient_frames, write_video
from vafusion.config import config_hash
from vafusion.errors import ConfigError
from vafusion.features.audio import (
    AudioConfig,
    audio_columns,
    compute_audio_features,
    segment_bounds,
)
from vafusion.io.media import AudioSignal

SR = 16_000


def extract_audio_features(path):
    from vafusion.extraction import Pipeline

    with Pipeline("audio") as pipe:
        return pipe.process(path)["audio"]


def test_columns_are_paper_layout():
    cols = audio_columns()
    assert len(cols) == 168
    assert cols[0] == "audio_mfcc_0" and cols[39] == "audio_mfcc_39"
    assert cols[40] == "audio_mel_0" and cols[-1] == "audio_mel_127"


def test_segments_span_two_periods_with_half_overlap():
    t = np.arange(10) / 25.0
    start, end = segment_bounds(t)
    assert np.allclose(end - start, 2 / 25.0)
    assert np.allclose((start + end) / 2, t)  # centred on the frame
    # consecutive segments overlap by exactly one half of their length
    assert np.allclose(end[:-1] - start[1:], 1 / 25.0)


def test_segments_follow_variable_frame_rate():
    t = np.array([0.0, 0.04, 0.08, 0.20, 0.24])
    start, end = segment_bounds(t)
    assert end[2] - start[2] == pytest.approx(0.04 + 0.12)  # mean of neighbour gaps, x2
    assert end[0] - start[0] == pytest.approx(0.08)  # edge: neighbouring difference


def _tone_signal(onset_s: float, duration_s: float = 3.0) -> AudioSignal:
    t = np.arange(int(duration_s * SR)) / SR
    x = np.where(t >= onset_s, 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
    return AudioSignal(samples=x, sample_rate=SR, start_s=0.0, end_s=duration_s)


@pytest.mark.parametrize("onset", [1.23, 0.53, 2.017])
def test_tone_onset_raises_the_frame_that_covers_it(onset):
    """The first frame with raised energy is the one whose timestamp covers the onset."""
    fps = 25.0
    t = np.arange(75) / fps
    values, valid = compute_audio_features(_tone_signal(onset), t)
    assert valid.all()
    energy = values[:, 40:].mean(axis=1)
    silence = energy[0]
    first = int(np.argmax(energy > silence + 20))
    assert first == int(np.floor(onset * fps))
    assert np.all(energy[:first] < silence + 1)


def test_matches_librosa_on_the_segment():
    """Averaging librosa's own per-segment spectrogram gives our row (interior frame)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR * 2).astype(np.float32) * 0.1
    sig = AudioSignal(x, SR, 0.0, 2.0)
    t = np.arange(50) / 25.0
    values, _ = compute_audio_features(sig, t)
    i = 20
    mel = librosa.feature.melspectrogram(
        y=x, sr=SR, n_fft=512, hop_length=160, n_mels=128, pad_mode="constant"
    )
    centres = np.arange(mel.shape[1]) * 160 / SR
    cols = (centres >= t[i] - 0.04 - 1e-9) & (centres < t[i] + 0.04 - 1e-9)
    ref_mel = librosa.power_to_db(mel[:, cols].mean(axis=1), top_db=None)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=40)
    ref_mfcc = mfcc[:, cols].mean(axis=1)
    assert np.allclose(values[i, 40:], ref_mel, atol=1e-3)
    assert np.allclose(values[i, :40], ref_mfcc, atol=1e-2)


def test_no_audio_gives_invalid_nan_rows():
    values, valid = compute_audio_features(None, np.arange(5) / 25.0)
    assert values.shape == (5, 168) and not valid.any() and np.isnan(values).all()


def test_partial_audio_coverage_marks_rows_invalid():
    x = np.zeros(SR * 2, np.float32)
    sig = AudioSignal(x, SR, start_s=0.5, end_s=1.5)
    t = np.arange(50) / 25.0
    _, valid = compute_audio_features(sig, t)
    assert not valid[:12].any() and valid[13:37].all() and not valid[38:].any()


def test_config_validation_and_hash():
    with pytest.raises(ConfigError):
        AudioConfig(n_mfcc=200)
    assert config_hash(AudioConfig()) != config_hash(AudioConfig(n_fft=1024))
    assert len(audio_columns(AudioConfig(n_mfcc=13, n_mels=64))) == 77


def test_real_clip_rows_align_with_frames(clips_dir):
    table = extract_audio_features(clips_dir / "d20.mp4")
    assert table.values.shape == (175, 168)
    assert table.valid.all() and np.isfinite(table.values).all()
    assert np.all(table.frame == np.arange(175))
    # a talking face: energy varies over time
    assert table.values[:, 40:].mean(axis=1).std() > 1.0
    df = table.to_pandas()
    assert list(df.columns[:3]) == ["frame", "timestamp", "audio_valid"]


def test_no_audio_stream_clip_warns(clips_dir, caplog):
    table = extract_audio_features(clips_dir / "d0.mp4")
    assert table.values.shape == (78, 168) and not table.valid.any()
    assert any("no audio stream" in r.getMessage() for r in caplog.records)


def test_late_audio_in_real_file(clips_dir):
    table = extract_audio_features(clips_dir / "face_noface.mov")
    t = table.timestamp
    assert not table.valid[t < 2.38].any() and table.valid[t > 2.5].all()


def test_mp3_audio_track(clips_dir):
    table = extract_audio_features(clips_dir / "single_face.mp4")
    assert table.values.shape == (72, 168) and table.valid.all()


def test_encoded_file_tone_alignment(tmp_path):
    """End to end through a real container: the onset lands in the right video frame."""
    onset = 1.23
    sig = _tone_signal(onset)
    path = write_video(tmp_path / "tone.mkv", gradient_frames(75), 25.0, audio=sig.samples)
    table = extract_audio_features(path)
    energy = table.values[:, 40:].mean(axis=1)
    assert int(np.argmax(energy > energy[0] + 20)) == int(onset * 25)


def test_egemaps_optional_set(clips_dir):
    from vafusion.extraction import Pipeline

    with Pipeline("egemaps") as pipe:
        table = pipe.process(clips_dir / "d20.mp4")["egemaps"]
        no_audio = pipe.process(clips_dir / "d0.mp4")["egemaps"]
    assert table.values.shape == (175, 25) and table.valid.all()
    assert np.isfinite(table.values).all()
    loud = table.values[:, table.columns.index("egemaps_Loudness_sma3")]
    assert loud.std() > 0.05  # speech: loudness varies from frame to frame
    assert not no_audio.valid.any() and np.isnan(no_audio.values).all()
