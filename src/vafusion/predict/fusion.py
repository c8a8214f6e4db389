"""Fusion of the default model's cues into valence and arousal (documented constants).

Standardisation
    Each arousal cue is turned into a z-score against a *population* reference
    (:data:`FACE_REFERENCE`, :data:`VOICE_REFERENCE`). Population, not a per-person running
    baseline, because a per-person z-score removes exactly the level differences between
    recordings (a person shouting all through a short clip would read as average), and the
    face cues are already relative to the person where that matters: action units are
    measured against the track's running neutral face and head motion above the track's
    own jitter floor. The face references are the pooled mean and standard deviation of
    each cue over the test clips (``scripts/default_model_reference.py``): unlabelled
    footage, so they fix units and spread, not what any label says. The voice references
    are judgement calls from typical adult speech (see docs/default-model.md).
Combination
    Equal weights. Published work agrees on the *direction* of these cues for arousal (voice:
    Juslin & Laukka 2003, Psychological Bulletin 129(5); Eyben et al. 2016, IEEE Trans.
    Affective Computing 7(2), GeMAPS; face: activation and movement rise with arousal) but
    gives no weights transferable to these measurements, so none are invented.
Mapping
    The averaged z-score is divided by its own spread on the reference clips and mapped to
    ``arousal = AROUSAL_MEAN + AROUSAL_SD * z``: the mean and spread of human arousal
    annotation, so the output is not shrunk (CCC penalises a prediction whose mean and spread
    differ from the labels'). Valence is the categorical prior's valence, unchanged from
    the first model (its spread already matched labelled film clips: CCC 0.485).
Uncertain frames
    A frame's value is ``c * x + (1 - c) * m`` with ``c`` its confidence and ``m`` the
    running median of the same face over :data:`MEDIAN_WINDOW_S` (centred offline): never a
    fixed point, so an uncertain frame says "as usual for this person".
"""

from __future__ import annotations

import numpy as np

#: (mean, sd) of each face cue over the test clips' main faces
#: (``scripts/default_model_reference.py``), and of the equal-weight z average.
FACE_REFERENCE: dict[str, tuple[float, float]] = {
    "prior_arousal": (0.227, 0.199),
    "activation": (0.220, 0.152),
    "velocity": (4.756, 0.878),
    "head_motion": (0.141, 0.161),
}
#: Spread (sd over the reference clips' frames) of the equal-weight mean of the 4 face
#: z-scores after the uncertainty pull and smoothing: dividing by it gives the output the
#: annotation spread :data:`AROUSAL_SD` (``scripts/default_model_reference.py``).
FACE_COMPOSITE_SD = 0.319

#: Arousal cues of the face, in the order they are averaged.
FACE_AROUSAL_CUES = ("prior_arousal", "activation", "velocity", "head_motion")

#: Mean and spread of human arousal annotation on -1..1 the output is mapped to. A
#: judgement call (no published per-frame statistics were available offline): in-the-wild
#: film and interview sets are annotated mostly mildly positive in arousal.
AROUSAL_MEAN = 0.2
AROUSAL_SD = 0.25

#: Window of the running median uncertain frames are pulled toward (s).
MEDIAN_WINDOW_S = 10.0
#: Frames at or above this confidence are "confident": they set the running median and
#: are the only ones the stress summary counts. A judgement call: half trust.
CONFIDENT = 0.5


def zscore(x: np.ndarray, ref: tuple[float, float]) -> np.ndarray:
    """``(x - mean) / sd`` against a ``(mean, sd)`` reference; NaN stays NaN."""
    return (np.asarray(x, np.float64) - ref[0]) / ref[1]


def composite(zs: dict[str, np.ndarray], weights: dict[str, np.ndarray] | None = None):
    """Weighted mean of z-scores per frame, ignoring NaN cues.

    Parameters
    ----------
    zs : dict of str to numpy.ndarray, each shape (T,)
    weights : dict of str to numpy.ndarray, optional
        Per-frame weights (default 1); a cue with weight 0 or NaN value is left out.

    Returns
    -------
    mean : numpy.ndarray, shape (T,)
        NaN where no cue is available.
    contributions : dict of str to numpy.ndarray
        Each cue's share of ``mean`` (they sum to ``mean``), NaN where ``mean`` is NaN.
    """
    names = list(zs)
    z = np.stack([zs[k] for k in names], axis=1)
    w = np.stack(
        [np.ones(len(z)) if weights is None or k not in weights else weights[k] for k in names],
        axis=1,
    )
    w = np.where(np.isfinite(z), np.nan_to_num(w), 0.0)
    total = w.sum(axis=1)
    share = np.where(
        total[:, None] > 0, w * np.nan_to_num(z) / np.maximum(total, 1e-12)[:, None], np.nan
    )
    mean = np.where(total > 0, share.sum(axis=1), np.nan)
    return mean, {k: share[:, i] for i, k in enumerate(names)}


def to_arousal(z: np.ndarray, composite_sd: float) -> np.ndarray:
    """Map a composite z-score to arousal with the annotation mean and spread, in [-1, 1]."""
    return np.clip(AROUSAL_MEAN + AROUSAL_SD * np.asarray(z) / composite_sd, -1.0, 1.0)


def running_median(
    x: np.ndarray, t: np.ndarray, window_s: float = MEDIAN_WINDOW_S, causal: bool = False
) -> np.ndarray:
    """Median of the finite values of ``x`` within ``window_s`` around (or before) each frame.

    Parameters
    ----------
    x : numpy.ndarray, shape (T,)
    t : numpy.ndarray, shape (T,)
        Seconds, increasing.
    window_s : float
    causal : bool
        Window ``[t - window_s, t]`` (live) instead of ``[t - w/2, t + w/2]``.

    Returns
    -------
    numpy.ndarray, shape (T,)
        NaN where the window holds no finite value.
    """
    vals = np.asarray(x, np.float64)
    tt = np.asarray(t, np.float64)
    if causal:
        lo = np.searchsorted(tt, tt - window_s, side="left")
        hi = np.arange(1, len(tt) + 1)
    else:
        lo = np.searchsorted(tt, tt - window_s / 2, side="left")
        hi = np.searchsorted(tt, tt + window_s / 2, side="right")
    out = np.full(len(vals), np.nan)
    # a loop over frames with slices: pandas' time-based rolling median has no centred
    # variant, and this costs ~10 us per frame
    for i in range(len(vals)):
        seg = vals[lo[i] : hi[i]]
        seg = seg[np.isfinite(seg)]
        if len(seg):
            out[i] = np.median(seg)
    return out


def pull_uncertain(
    x: np.ndarray, confidence: np.ndarray, t: np.ndarray, causal: bool = False
) -> np.ndarray:
    """``c * x + (1 - c) * m`` per frame (see the module docstring); NaN stays NaN.

    ``m`` is the running median over the window's confident frames (confidence >=
    :data:`CONFIDENT`), or over all its frames when none is confident.
    """
    c = np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)
    x = np.asarray(x, np.float64)
    med = running_median(np.where(c >= CONFIDENT, x, np.nan), t, causal=causal)
    med = np.where(np.isfinite(med), med, running_median(x, t, causal=causal))
    return np.where(np.isfinite(med), c * x + (1.0 - c) * med, x)
