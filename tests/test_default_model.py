"""The multi-cue default model on real media (bundled clip, espeak-ng speech, PyAV-built video).

espeak-ng output is *synthetic* speech (a formant synthesiser), used because its pitch,
speed and amplitude can be set exactly; sine tones are synthetic "music".
"""

from __future__ import annotations

import shutil
import subprocess

import av
import numpy as np
import pytest

from media_factory import write_video
from vafusion.predict.api import load_model
from vafusion.predict.combine import speaking_gate
from vafusion.predict.outputs import build_summary
from vafusion.predict.types import FaceCurve, VideoPrediction
from vafusion.predict.voice_only import NO_SPEECH

SENTENCE = "This is a synthetic test sentence. The speech synthesizer reads it for the test."


def espeak(path, pitch: int, speed: int, amplitude: int) -> np.ndarray:
    """Synthetic speech from espeak-ng, returned as 16 kHz mono float32 (and written)."""
    assert shutil.which("espeak-ng"), "espeak-ng missing: run scripts/test-prereqs.sh"
    args = ["espeak-ng", "-w", str(path), "-p", str(pitch), "-s", str(speed), "-a", str(amplitude)]
    subprocess.run([*args, SENTENCE], check=True, capture_output=True)
    from vafusion.io.audio import load_audio

    return load_audio(path).samples


@pytest.fixture(scope="module")
def wolfgang(default_model, sample_clip):
    return default_model.predict_video(sample_clip)


def test_crying_frames_lower_valence_than_broad_smiles(wolfgang):
    # frames looked at: 48-130 crying (eyes shut, mouth pulled), 300-470 broad smiles
    (fc,) = wolfgang.faces
    assert fc.valid[48:130].all() and fc.valid[300:470].all()
    crying, smiling = fc.va[48:130, 0].mean(), fc.va[300:470, 0].mean()
    assert crying < 0.0 < smiling and smiling - crying > 0.5


def test_confidence_source_and_contributions(wolfgang):
    (fc,) = wolfgang.faces
    assert ((fc.confidence >= 0) & (fc.confidence <= 1)).all()
    assert set(fc.source[fc.valid]) == {"face"}, "the clip's audio is silent: no voice"
    df = wolfgang.to_frame(explain=True)
    contrib = [c for c in df.columns if c.startswith("contrib_a_")]
    assert {"contrib_a_activation", "contrib_a_head_motion"} <= set(contrib)
    # arousal is the annotation mean plus the cue contributions, before pull and smoothing:
    # they must move with it (correlation over the clip)
    raw = 0.2 + df[contrib].sum(axis=1).to_numpy()
    assert np.corrcoef(raw, df["arousal"].to_numpy())[0, 1] > 0.5


def test_uncertain_frames_never_count_in_the_stress_zone(wolfgang):
    """Synthetic curve: every frame deep in the stress zone, confidence varied."""
    n = len(wolfgang.timestamps)
    va = np.tile(np.float32([-0.6, 0.6]), (n, 1))
    conf = np.full(n, 0.2, np.float32)
    fc = FaceCurve(0, np.ones(n, bool), va, np.zeros((n, 4), np.float32), confidence=conf)
    pred = VideoPrediction(wolfgang.info, wolfgang.timestamps, [fc])
    stress = build_summary(pred, "default", "main")["faces"][0]["stress"]
    assert stress["stress_index"] is None or stress["stress_index"] == 0
    fc.confidence = np.full(n, 0.9, np.float32)
    sure = build_summary(pred, "default", "main")["faces"][0]["stress"]
    assert sure["stress_index"] > 50


def test_voice_arousal_rises_with_pitch_speed_and_amplitude(tmp_path, default_model):
    means = []
    for i, (p, s, a) in enumerate([(20, 120, 40), (40, 160, 90), (60, 200, 140), (80, 240, 190)]):
        espeak(tmp_path / f"level{i}.wav", p, s, a)
        pred = default_model.predict_video(tmp_path / f"level{i}.wav")
        (fc,) = pred.faces
        arousal = fc.va[:, 1]
        assert np.isnan(fc.va[:, 0]).all(), "no valence from the voice"
        assert np.isfinite(arousal).mean() > 0.5 and set(fc.source[np.isfinite(arousal)]) == {
            "voice"
        }
        assert np.allclose(np.diff(pred.timestamps), 0.1), "fixed 10 rows per second"
        means.append(float(np.nanmean(arousal)))
    assert all(b > a for a, b in zip(means, means[1:], strict=False)), means


def test_silence_and_music_give_nan_and_one_note(tmp_path, default_model):
    sr = 16_000
    t = np.arange(4 * sr) / sr
    chord = 0.2 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t))  # synthetic tones
    for name, x in (("silence", np.zeros(3 * sr)), ("tones", chord)):
        path = tmp_path / f"{name}.wav"
        with av.open(str(path), "w") as out:
            s = out.add_stream("pcm_s16le", rate=sr)
            s.layout = "mono"
            frame = av.AudioFrame.from_ndarray(
                (x * 32767).astype(np.int16)[None], format="s16", layout="mono"
            )
            frame.sample_rate = sr
            for pkt in [*s.encode(frame), *s.encode()]:
                out.mux(pkt)
        pred = default_model.predict_video(path)
        assert np.isnan(pred.faces[0].va).all() and pred.warnings == [NO_SPEECH]


def test_voice_does_not_move_a_face_whose_lips_are_still(tmp_path, default_model, sample_clip):
    # real frames 0-47 of the bundled clip (eyes shut, mouth closed) played back and forth
    # for ~6 s, once silent and once with synthetic speech on the audio track
    frames = []
    with av.open(str(sample_clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= 48:
                break
            frames.append(f.to_ndarray(format="rgb24"))
    loop = (frames + frames[::-1]) * 3
    speech = espeak(tmp_path / "speech.wav", 60, 180, 150)
    speech = np.resize(speech, int(len(loop) / 24 * 16_000))
    silent = default_model.predict_video(write_video(tmp_path / "silent.mp4", loop, 24.0))
    voiced = default_model.predict_video(
        write_video(tmp_path / "voiced.mp4", loop, 24.0, audio=speech.astype(np.float32))
    )
    assert not any("no speech" in w for w in voiced.warnings), "the speech must be heard"
    (a,), (b,) = silent.faces, voiced.faces
    assert a.valid.all() and (a.valid == b.valid).all()
    assert set(b.source) == {"face"}
    np.testing.assert_allclose(b.va, a.va, atol=1e-6)


def test_speaking_gate_follows_lip_and_voice_covariation():
    """Synthetic signals: lips moving with the voice's syllables, still lips, opposed lips."""
    fps, n = 25.0, 250
    t = np.arange(n) / fps
    syllables = np.sin(2 * np.pi * 4 * t)
    level = -30 + 10 * syllables
    speech = np.ones(n, bool)
    moving = speaking_gate(2 + 2 * syllables, level, speech, fps)
    still = speaking_gate(np.full(n, 1.0) + 0.01 * np.cos(t), level, speech, fps)
    opposed = speaking_gate(2 - 2 * syllables, level, speech, fps)
    assert moving[40:-40].min() == 1.0
    assert still.max() == 0.0 and opposed.max() == 0.0
    assert speaking_gate(2 + 2 * syllables, level, np.zeros(n, bool), fps).max() == 0.0


def test_circumplex_model_stays_selectable():
    first = load_model("circumplex", face_tracking=False)
    try:
        assert first.name == "circumplex" and first.feature_sets == ("expression",)
        assert first.config.tau_s == 0.3, "the first model keeps its own settings"
    finally:
        first.close()


def test_cue_filters_match_plain_per_row_formulas_across_blocks(monkeypatch):
    """SYNTHETIC random walk with NaN rows: the blocked moving average and the column-wise
    speed equal their definitions computed row by row."""
    from vafusion.predict import face_cues

    monkeypatch.setattr(face_cues, "_BLOCK", 16)  # several blocks (the default is 8192)
    rng = np.random.default_rng(3)
    n, width, lag = 70, 5, 0.2
    x = rng.normal(size=(n, 3)).cumsum(axis=0)
    x[rng.random(n) < 0.2] = np.nan
    t = np.arange(n) / 24.0
    ok = np.isfinite(x).all(axis=1)
    got = face_cues._moving_average(x, width)
    for i in range(n):
        window = [j for j in range(i - width // 2, i + width // 2 + 1) if 0 <= j < n and ok[j]]
        want = x[window].mean(axis=0) if ok[i] else np.full(3, np.nan)
        np.testing.assert_allclose(got[i], want, rtol=1e-12, equal_nan=True)
    speed = face_cues._speed(x, t, lag)
    tt, xs = t[ok], x[ok]
    for i in np.flatnonzero(ok):
        a = [np.interp(t[i] - lag / 2, tt, xs[:, k]) for k in range(3)]
        b = [np.interp(t[i] + lag / 2, tt, xs[:, k]) for k in range(3)]
        assert speed[i] == pytest.approx(np.linalg.norm(np.subtract(b, a)) / lag, rel=1e-12)
    assert np.isnan(speed[~ok]).all()
