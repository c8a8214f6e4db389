"""The default model's per-face assembly: cues -> fused, confidence-weighted, smoothed curves.

Voice attribution
    The voice joins a face's arousal cues only while that face is speaking: per frame, the
    Pearson correlation, over a centred :data:`ATTRIBUTION_WINDOW_S` window, between the
    face's mouth opening (AU25 + AU26) and the voice's level (dB) must be positive; the
    gate rises linearly from 0 at r = :data:`GATE_R0` to 1 at r = :data:`GATE_R1`, and is 0
    where the lips barely move (mouth opening sd below :data:`MIN_MOUTH_SD` AU units, about
    1.2 mm of lip gap, in the window) or there is no speech. Mouth opening and the speech
    envelope co-vary at the syllable rate (Chandrasekaran et al. 2009, PLoS Computational
    Biology 5(7), "The natural statistics of audiovisual speech"); the thresholds are
    judgement calls. Correlation alone is not enough: in the still-lips test video (closed
    lips with small crying movements, unrelated speech) chance correlations over 3 s
    windows reached r = 0.42, with a mouth-opening sd of at most 0.47. So narration,
    music or an off-screen speaker do not drive a visible face, and with several faces each
    gets the voice only while its own lips move with it.
Rows without a visible face
    When one face is reported, frames where it is not seen but speech is heard get the
    voice's arousal alone (``source = voice``, valence NaN, confidence
    :data:`VOICE_ONLY_CONFIDENCE`).
"""

from __future__ import annotations

import numpy as np

from vafusion.predict import fusion
from vafusion.predict.circumplex_model import chosen_tracks, no_face_fallback
from vafusion.predict.face_cues import face_cues
from vafusion.predict.types import FaceCurve

ATTRIBUTION_WINDOW_S = 3.0
GATE_R0 = 0.2
GATE_R1 = 0.5
MIN_MOUTH_SD = 0.75
#: Confidence of a voice-only row: a judgement call (one modality, arousal only).
VOICE_ONLY_CONFIDENCE = 0.5
#: Assumed mean pairwise correlation of the z-scored cues, for how the spread of their mean
#: changes with the number of cues (a judgement call).
CUE_CORRELATION = 0.3


def composite_sd(k: np.ndarray) -> np.ndarray:
    """Spread of the fused output in z units when ``k`` cues are averaged.

    :data:`~vafusion.predict.fusion.FACE_COMPOSITE_SD` (measured for the 4 face cues after
    the uncertainty pull and smoothing), scaled for other ``k`` as the mean of ``k``
    unit-variance cues with pairwise correlation :data:`CUE_CORRELATION` would be.
    """
    k = np.maximum(np.asarray(k, np.float64), 1.0)

    def f(m):
        return np.sqrt((1.0 + (m - 1.0) * CUE_CORRELATION) / m)

    return fusion.FACE_COMPOSITE_SD * f(k) / f(4.0)


def _on_frames(grid_t: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Nearest-row lookup of a regular-grid series at frame times."""
    if len(grid_t) == 0:
        return np.full(len(t), np.nan)
    step = grid_t[1] - grid_t[0] if len(grid_t) > 1 else 1.0
    idx = np.clip(np.round((t - grid_t[0]) / step).astype(int), 0, len(grid_t) - 1)
    return np.asarray(x)[idx]


def speaking_gate(mouth: np.ndarray, level_db: np.ndarray, speech: np.ndarray, fps: float):
    """Per-frame gate in [0, 1]: is this face the one speaking? (module docstring)."""
    import pandas as pd

    n = max(3, int(round(ATTRIBUTION_WINDOW_S * fps)))
    m, e = pd.Series(mouth), pd.Series(level_db)
    r = m.rolling(n, center=True, min_periods=n // 2).corr(e).to_numpy()
    sd = m.rolling(n, center=True, min_periods=n // 2).std().to_numpy()
    gate = np.clip((np.nan_to_num(r) - GATE_R0) / (GATE_R1 - GATE_R0), 0.0, 1.0)
    gate[~(np.nan_to_num(sd) >= MIN_MOUTH_SD)] = 0.0
    gate[~speech] = 0.0
    return gate


def _voice_on_frames(path, info, ts: np.ndarray, config):
    """Voice z composite, shares, speech mask and level at the frame times (or None), note."""
    from vafusion.io.audio import load_audio
    from vafusion.predict.voice import voice_arousal_z, voice_cues

    if not config.use_voice or not info.has_audio:
        return None, None
    audio = load_audio(path, duration_s=float(info.duration_s))
    if audio is None:
        return None, None
    cues = voice_cues(audio, float(info.duration_s))
    if not cues.speech.any():
        return None, "no speech heard on the audio track: the voice is not used"
    z, shares = voice_arousal_z(cues)
    return {
        "z": _on_frames(cues.times, z, ts),
        "shares": {k: _on_frames(cues.times, v, ts) for k, v in shares.items()},
        "speech": _on_frames(cues.times, cues.speech, ts).astype(bool),
        "level": _on_frames(cues.times, cues.envelope, ts),
        "k": len(shares),
    }, None


def fuse_faces(path, info, tables: dict, face: str | int, config, analysed=None):
    """Fused curves of the chosen faces and warnings (see the module docstring).

    Parameters
    ----------
    path : path of the media file
    info : VideoInfo
    tables : dict
        The pass's ``expression``, ``facepose`` and ``_boxes`` tables.
    face : {"main", "left", "right", "all"} or int
    config : DefaultModelConfig
    analysed : FeatureTable, optional
        :class:`~vafusion.predict.stride.AnalysedFrames` table of a strided pass: values
        between analysed frames are interpolated (``FaceCurve.interpolated``).

    Returns
    -------
    faces : list of FaceCurve
    warnings : list of str
    """
    from vafusion.faces.subjects import select_face
    from vafusion.predict.boxes import dense_boxes

    boxes = tables["_boxes"]
    ts = np.asarray(boxes.meta["timestamps"], dtype=np.float64)
    n = len(ts)
    fps = 1.0 / np.median(np.diff(ts)) if n > 1 else 25.0
    chosen, ids = chosen_tracks(tables["expression"], face)
    voice, note = _voice_on_frames(path, info, ts, config)
    faces = []
    for fid in chosen:
        expression = select_face(tables["expression"], n, ts, fid)
        cues = face_cues(
            expression,
            select_face(tables["facepose"], n, ts, fid),
            dense_boxes(boxes, fid, n),
            ts,
            config.circumplex,
        )
        gate = np.zeros(n)
        if voice is not None:
            gate = speaking_gate(
                _filled(cues.values["mouth"]), voice["level"], voice["speech"], fps
            )
            gate[~cues.valid] = 0.0
        fc = _fuse_one(fid, cues, voice, gate, dense_boxes(boxes, fid, n), ts, config)
        fc.expressions = _probabilities(expression)  # the report's expression strip
        if analysed is not None:
            _interpolate(fc, ts, analysed)
        faces.append(fc)
    faces, warnings = no_face_fallback(faces, ids, face, n, strided=analysed is not None)
    if voice is not None and len(faces) == 1:
        _fill_voice_only(faces[0], voice, ts, config)
    if note:
        warnings.append(note)
    return faces, warnings


def _filled(x: np.ndarray) -> np.ndarray:
    """Missing values linearly interpolated (ends held), so gaps add no fake lip motion."""
    import pandas as pd

    s = pd.Series(np.asarray(x, np.float64)).interpolate(limit_direction="both")
    return s.fillna(0.0).to_numpy()


def _interpolate(fc: FaceCurve, ts: np.ndarray, analysed) -> None:
    """Strided pass: fill the frames between analysed ones (in place, marked)."""
    from vafusion.predict.stride import interpolate_between

    done = np.zeros(len(ts), bool)
    done[analysed.frame] = True
    seen = fc.valid.copy()
    va, filled = interpolate_between(fc.va, ts, seen, done)
    fc.va = va.astype(np.float32)
    fc.bbox = interpolate_between(fc.bbox, ts, seen, done)[0].astype(np.float32)
    conf = interpolate_between(fc.confidence[:, None], ts, seen, done)[0][:, 0]
    fc.confidence = conf.astype(np.float32)
    fc.source = np.where(filled, "face", fc.source).astype(object)
    fc.valid = seen | filled
    fc.interpolated = filled


def arousal_from_cues(zs: dict, weights: dict) -> tuple[np.ndarray, dict]:
    """Arousal and per-cue contributions from cue z-scores (equal or per-frame weights).

    Parameters
    ----------
    zs : dict of str to numpy.ndarray, each shape (T,)
        z-scored cues (NaN: not available on that frame).
    weights : dict of str to numpy.ndarray
        Per-frame weights of some cues (others weigh 1).

    Returns
    -------
    arousal : numpy.ndarray, shape (T,)
        ``AROUSAL_MEAN + AROUSAL_SD * z / composite_sd(k)`` in [-1, 1].
    contributions : dict of str to numpy.ndarray
        ``a_<cue>``: each cue's share of ``arousal - AROUSAL_MEAN``.
    """
    z, shares = fusion.composite(zs, weights)
    k = sum(np.where(np.isfinite(zs[c]), np.nan_to_num(weights.get(c, 1.0)), 0.0) for c in zs)
    sd = composite_sd(k)
    arousal = np.clip(fusion.AROUSAL_MEAN + fusion.AROUSAL_SD * z / sd, -1.0, 1.0)
    contrib = {f"a_{c}": fusion.AROUSAL_SD * s / sd for c, s in shares.items()}
    return arousal, contrib


def _fuse_one(fid, cues, voice, gate, bbox, ts, config) -> FaceCurve:
    zs = {
        c: fusion.zscore(cues.values[c], fusion.FACE_REFERENCE[c]) for c in fusion.FACE_AROUSAL_CUES
    }
    weights: dict[str, np.ndarray] = {}
    if voice is not None:
        for k, share in voice["shares"].items():
            # shares are z / k_voice: back to each voice cue's own z-score
            zs[k] = share * voice["k"]
            weights[k] = gate
    arousal, contrib = arousal_from_cues(zs, weights)
    valence = cues.values["prior_valence"].copy()
    arousal[~cues.valid] = np.nan
    conf = cues.confidence
    va = np.stack(
        [fusion.pull_uncertain(valence, conf, ts), fusion.pull_uncertain(arousal, conf, ts)], 1
    )
    va = _smooth(va, ts, config)
    va[~cues.valid] = np.nan
    contrib = {k: np.where(cues.valid, v, np.nan) for k, v in contrib.items()}
    contrib["v_prior_valence"] = valence
    source = np.where(cues.valid, np.where(gate > 0, "face+voice", "face"), "")
    return FaceCurve(
        fid,
        cues.valid,
        va.astype(np.float32),
        bbox,
        confidence=conf.astype(np.float32),
        source=source,
        contributions=contrib,
    )


def _probabilities(expression) -> np.ndarray:
    """Expression class probabilities, shape (T, 7) in ``EMOTIONS`` order, NaN where unseen."""
    from vafusion.predict.circumplex import PROB_COLUMNS

    probs = expression.values[:, [expression.columns.index(c) for c in PROB_COLUMNS]]
    return np.where(expression.valid[:, None], probs, np.nan).astype(np.float32)


def _fill_voice_only(fc: FaceCurve, voice: dict, ts: np.ndarray, config) -> None:
    """Voice arousal on the frames where the reported face is not seen (in place)."""
    rows = ~fc.valid & voice["speech"] & np.isfinite(voice["z"])
    if not rows.any():
        return
    k = np.full(len(ts), float(voice["k"]))
    a = np.clip(fusion.AROUSAL_MEAN + fusion.AROUSAL_SD * voice["z"] / composite_sd(k), -1, 1)
    a = _smooth(np.where(rows, a, np.nan)[:, None], ts, config)[:, 0]
    va = fc.va.astype(np.float64)
    va[rows, 1] = a[rows]
    fc.va = va.astype(np.float32)
    conf = np.zeros(len(ts)) if fc.confidence is None else fc.confidence.astype(np.float64)
    conf[rows] = VOICE_ONLY_CONFIDENCE
    fc.confidence = conf.astype(np.float32)
    src = np.full(len(ts), "", dtype=object) if fc.source is None else fc.source.astype(object)
    src[rows] = "voice"
    fc.source = src
    contrib = dict(fc.contributions or {})
    for key, share in voice["shares"].items():
        col = contrib.setdefault(f"a_{key}", np.full(len(ts), np.nan))
        col[rows] = (fusion.AROUSAL_SD * share / composite_sd(k))[rows]
    fc.contributions = contrib


def _smooth(va: np.ndarray, ts: np.ndarray, config) -> np.ndarray:
    """Zero-phase smoothing per column, then the optional annotation-lag shift."""
    from vafusion.smoothing import smooth_offline

    out = np.stack(
        [smooth_offline(va[:, d], ts, config.tau_s, config.max_gap_s) for d in range(va.shape[1])],
        axis=1,
    )
    if config.lag_s > 0 and len(ts) > 1:
        shift = int(round(config.lag_s / np.median(np.diff(ts))))
        if shift > 0:
            out = np.concatenate([np.repeat(out[:1], shift, axis=0), out[:-shift]])[: len(ts)]
    return out
