"""Map emotion-class probabilities to the valence-arousal plane (the circumplex prior).

Coordinates
-----------
Each of the seven FER2013 classes gets a point on the circumplex taken from the
pleasure-arousal ratings of emotion terms by Russell & Mehrabian (1977), "Evidence for a
three-factor theory of emotions", *Journal of Research in Personality* 11(3), 273-294
(pleasure and arousal on -1..+1 scales; the dominance axis is dropped). The values are the
ones reproduced by Mehrabian's PAD work and by Gebhard (2005), "ALMA: a layered model of
affect", AAMAS, for the matching terms:

==========  =======  =======  ==========================
class       valence  arousal  term rated
==========  =======  =======  ==========================
angry        -0.51    +0.59   angry
disgust      -0.60    +0.35   disgusted
fear         -0.64    +0.60   afraid
happy        +0.81    +0.51   happy
sad          -0.63    -0.27   sad
surprise     +0.40    +0.67   surprised
neutral       0.00    -0.05   (origin; see below)
==========  =======  =======  ==========================

``neutral`` is not a rated term: it is put at the origin of both bipolar scales, with
a slightly negative arousal because an expressionless face is rated calmer than the
scale midpoint (AffectNet's neutral images sit at arousal just below 0; Mollahosseini,
Hasani & Mahoor 2017, IEEE Trans. Affective Computing 10(1)).

Calibration
-----------
The classifier's probabilities are over-confident (a 58 k-parameter CNN trained on 48x48
FER2013 faces) and carry FER2013's class priors, which are far from those of everyday
video where resting faces dominate. Before mixing the coordinates the probabilities are
therefore

1. *tempered*: ``log p / T`` with ``T > 1`` flattens over-confident outputs (Guo et al.
   2017, "On calibration of modern neural networks", ICML);
2. *prior-shifted* (Saerens, Latinne & Decaestecker 2002, Neural Computation 14(1)):
   multiplied by ``(pi_target / pi_train) ** prior_strength`` and renormalised, where
   ``pi_train`` are FER2013's training-set class frequencies and ``pi_target`` a prior in
   which neutral and mild expressions dominate. ``prior_strength`` < 1 applies the
   correction only partly, as the target prior is itself an estimate.

Then ``(v, a) = gain * sum_c q_c * coord_c`` where ``gain`` < 1 accounts for the
coordinates being those of the *prototypical* emotion word while a face showing it is on
average a milder instance. With every probability in [0, 1] and coordinates inside the
unit disc the result is always inside [-1, 1] and never saturates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vafusion.errors import ConfigError

#: FER2013 class order (fer's mini-Xception output order).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Column names of the probabilities in expression feature tables.
PROB_COLUMNS: tuple[str, ...] = tuple(f"emo_{e}" for e in EMOTIONS)

#: (valence, arousal) per class: Russell & Mehrabian (1977); neutral at the origin.
CIRCUMPLEX_COORDS: dict[str, tuple[float, float]] = {
    "angry": (-0.51, 0.59),
    "disgust": (-0.60, 0.35),
    "fear": (-0.64, 0.60),
    "happy": (0.81, 0.51),
    "sad": (-0.63, -0.27),
    "surprise": (0.40, 0.67),
    "neutral": (0.00, -0.05),
}

#: FER2013 training-set class counts (28,709 images; Goodfellow et al. 2013).
FER2013_TRAIN_COUNTS: dict[str, int] = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "sad": 4830,
    "surprise": 3171,
    "neutral": 4965,
}

#: Assumed class prior of everyday video (resting/neutral faces dominate; see
#: docs/default-model.md). Relative weights, normalised on use.
EVERYDAY_PRIOR: dict[str, float] = {
    "angry": 0.06,
    "disgust": 0.02,
    "fear": 0.03,
    "happy": 0.20,
    "sad": 0.09,
    "surprise": 0.06,
    "neutral": 0.54,
}


@dataclass(frozen=True)
class CircumplexConfig:
    """Settings of the class-probability -> valence/arousal mapping.

    Attributes
    ----------
    temperature : float
        Softening of the classifier's probabilities (``log p / T``); 1.0 disables it.
    prior_strength : float
        Exponent of the prior-shift correction in [0, 1]; 0 disables it.
    gain : float
        Scale applied to the mixed coordinates (prototype -> typical intensity).
    coords : dict of str to (float, float)
        (valence, arousal) of each class; defaults to :data:`CIRCUMPLEX_COORDS`.
    train_prior, target_prior : dict of str to float
        Class priors for the prior shift (normalised on use).
    """

    temperature: float = 1.5
    prior_strength: float = 0.5
    gain: float = 0.9
    coords: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(CIRCUMPLEX_COORDS))
    train_prior: dict[str, float] = field(
        default_factory=lambda: {k: float(v) for k, v in FER2013_TRAIN_COUNTS.items()}
    )
    target_prior: dict[str, float] = field(default_factory=lambda: dict(EVERYDAY_PRIOR))

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"circumplex.temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.prior_strength <= 1.0:
            raise ConfigError("circumplex.prior_strength must be in [0, 1]")
        if not 0.0 < self.gain <= 1.0:
            raise ConfigError("circumplex.gain must be in (0, 1]")
        for name in ("coords", "train_prior", "target_prior"):
            missing = set(EMOTIONS) - set(getattr(self, name))
            if missing:
                raise ConfigError(f"circumplex.{name} lacks {', '.join(sorted(missing))}")
        for e, (v, a) in self.coords.items():
            if v * v + a * a > 1.0 + 1e-9:
                raise ConfigError(f"circumplex.coords[{e}] lies outside the unit disc")

    def coord_matrix(self) -> np.ndarray:
        """(7, 2) float64 array of (valence, arousal) in :data:`EMOTIONS` order."""
        return np.array([self.coords[e] for e in EMOTIONS], dtype=np.float64)

    def log_prior_shift(self) -> np.ndarray:
        """(7,) additive log-probability correction ``strength * log(target / train)``."""
        train = np.array([self.train_prior[e] for e in EMOTIONS], dtype=np.float64)
        target = np.array([self.target_prior[e] for e in EMOTIONS], dtype=np.float64)
        train, target = train / train.sum(), target / target.sum()
        return self.prior_strength * np.log(target / train)


def calibrate_probabilities(
    probs: np.ndarray, config: CircumplexConfig | None = None
) -> np.ndarray:
    """Temper and prior-shift classifier probabilities.

    Parameters
    ----------
    probs : numpy.ndarray, shape (..., 7)
        Class probabilities in :data:`EMOTIONS` order (rows may contain NaN).
    config : CircumplexConfig, optional

    Returns
    -------
    numpy.ndarray, shape (..., 7), float64
        Calibrated probabilities summing to 1 (NaN rows stay NaN).
    """
    cfg = config or CircumplexConfig()
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[-1] != len(EMOTIONS):
        raise ConfigError(f"expected {len(EMOTIONS)} class probabilities, got {p.shape[-1]}")
    logits = np.log(np.clip(p, 1e-8, 1.0)) / cfg.temperature + cfg.log_prior_shift()
    logits -= np.max(logits, axis=-1, keepdims=True)
    q = np.exp(logits)
    return q / q.sum(axis=-1, keepdims=True)


def probabilities_to_va(probs: np.ndarray, config: CircumplexConfig | None = None) -> np.ndarray:
    """Valence and arousal of each row of class probabilities.

    Parameters
    ----------
    probs : numpy.ndarray, shape (T, 7)
        Class probabilities in :data:`EMOTIONS` order; NaN rows (no face) stay NaN.
    config : CircumplexConfig, optional

    Returns
    -------
    numpy.ndarray, shape (T, 2), float64
        Columns valence and arousal, each in [-1, 1].

    Examples
    --------
    >>> import numpy as np
    >>> happy = np.eye(7)[[EMOTIONS.index("happy")]]
    >>> bool(probabilities_to_va(happy)[0, 0] > 0.3)
    True
    """
    cfg = config or CircumplexConfig()
    q = calibrate_probabilities(probs, cfg)
    va = cfg.gain * (q @ cfg.coord_matrix())
    return np.clip(va, -1.0, 1.0)
