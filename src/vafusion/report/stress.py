"""Workplace stress summary from per-frame valence/arousal curves.

**This is an indicator of expressed affect, not a medical, psychological or HR measurement.**
It summarises what a face (as seen by a model) expressed on camera; it says nothing about
how a person felt, their health or their performance. Everything is computed locally and
nothing is ever uploaded.

Definitions (all shares are *time* shares over frames with a valid face, each frame
weighted by its duration, so variable frame rate is handled):

quadrants
    ``high_arousal_positive`` (v >= 0, a >= 0; excited, happy), ``high_arousal_negative``
    (v < 0, a >= 0; tense, angry, afraid), ``low_arousal_negative`` (v < 0, a < 0; sad,
    tired), ``low_arousal_positive`` (v >= 0, a < 0; calm, content).
stress zone
    ``v < valence_threshold`` and ``a > arousal_threshold`` (defaults -0.1 and +0.1: a
    margin around the origin so that noise around a neutral face does not count).
episodes
    Maximal runs of stress-zone frames; stretches without a face of up to
    ``gap_tolerance_s`` inside a run do not break it. Episodes shorter than
    ``min_episode_s`` are not counted as episodes (their time still counts in the share).
stress index (0-100)
    ``100 * mean_t max(0, (a - v) / 2)``: the time average of the projection of the
    (v, a) point on the *tense-calm* diagonal of Russell's (1980) circumplex (the direction
    from "calm/relaxed", v > 0 and a < 0, to "tense/stressed", v < 0 and a > 0), clipped at
    0 so that calm moments do not cancel tense ones. 0: never tense; 100: permanently at the
    most negative, most aroused corner. A neutral face scores 0, an angry or afraid face
    about 50-60 with the default model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vafusion.errors import ConfigError

DISCLAIMER = (
    "Indicator of expressed affect only (what the face showed on camera, as estimated by a "
    "model): not a medical, psychological or HR measurement. Computed locally; nothing is "
    "uploaded."
)

QUADRANTS = (
    "high_arousal_positive",
    "high_arousal_negative",
    "low_arousal_negative",
    "low_arousal_positive",
)


@dataclass(frozen=True)
class StressConfig:
    """Thresholds of the stress summary.

    Attributes
    ----------
    valence_threshold : float
        Valence below this counts as negative for the stress zone.
    arousal_threshold : float
        Arousal above this counts as high for the stress zone.
    min_episode_s : float
        Minimum duration of a counted episode.
    gap_tolerance_s : float
        Face-missing stretches up to this long do not break an episode.
    window_s : float
        Length of the aggregation windows (60: per minute).
    """

    valence_threshold: float = -0.1
    arousal_threshold: float = 0.1
    min_episode_s: float = 1.0
    gap_tolerance_s: float = 0.5
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if not -1.0 <= self.valence_threshold <= 1.0 or not -1.0 <= self.arousal_threshold <= 1.0:
            raise ConfigError("stress thresholds must lie in [-1, 1]")
        if self.window_s <= 0 or self.min_episode_s < 0 or self.gap_tolerance_s < 0:
            raise ConfigError("stress durations must be positive")


def frame_durations(timestamps: np.ndarray) -> np.ndarray:
    """Duration of each frame: time to the next frame (last frame: previous interval).

    Parameters
    ----------
    timestamps : numpy.ndarray, shape (T,)

    Returns
    -------
    numpy.ndarray, shape (T,), float64
    """
    t = np.asarray(timestamps, dtype=np.float64)
    if len(t) == 0:
        return t.copy()
    if len(t) == 1:
        return np.array([1.0 / 25.0])
    d = np.diff(t)
    return np.append(d, d[-1])


def stress_intensity(valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """Per-frame tense-calm projection ``max(0, (a - v) / 2)`` in [0, 1] (NaN stays NaN)."""
    v = np.asarray(valence, dtype=np.float64)
    a = np.asarray(arousal, dtype=np.float64)
    return np.clip((a - v) / 2.0, 0.0, 1.0)


def _episodes(
    t: np.ndarray, dur: np.ndarray, zone: np.ndarray, valid: np.ndarray, cfg: StressConfig
) -> list[tuple[float, float]]:
    """(start, end) times of stress episodes."""
    episodes: list[tuple[float, float]] = []
    start: float | None = None
    end = 0.0
    for i in range(len(t)):
        if valid[i] and zone[i]:
            if start is None:
                start = t[i]
            end = t[i] + dur[i]
        elif start is not None and (valid[i] or t[i] - end > cfg.gap_tolerance_s):
            # a valid non-stress frame, or a face gap grown too long, ends the run
            episodes.append((start, end))
            start = None
    if start is not None:
        episodes.append((start, end))
    return [(s, e) for s, e in episodes if e - s >= cfg.min_episode_s - 1e-9]


def _share(weights: np.ndarray, mask: np.ndarray) -> float | None:
    total = float(weights.sum())
    return float(weights[mask].sum() / total) if total > 0 else None


def _nanmean_w(x: np.ndarray, w: np.ndarray) -> float | None:
    ok = ~np.isnan(x)
    tot = float(w[ok].sum())
    return float((x[ok] * w[ok]).sum() / tot) if tot > 0 else None


def stress_summary(
    timestamps: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    config: StressConfig | None = None,
) -> dict:
    """Summarise one face's valence/arousal curve for the workplace stress view.

    Parameters
    ----------
    timestamps : numpy.ndarray, shape (T,)
        Seconds, increasing.
    valence, arousal : numpy.ndarray, shape (T,)
        Per-frame values in [-1, 1]; NaN where there is no face.
    config : StressConfig, optional

    Returns
    -------
    dict
        JSON-compatible: ``valid_time_s``, ``quadrant_share`` (4 shares summing to 1, or
        None without any face), ``stress_zone_share``, ``stress_episodes`` (count),
        ``longest_stress_episode_s``, ``longest_stress_episode`` (start/end), ``episodes``
        (list of ``[start_s, end_s]``), ``stress_index``
        (0-100 or None), ``per_minute`` (list of windows), ``thresholds``, ``disclaimer``.
    """
    cfg = config or StressConfig()
    t = np.asarray(timestamps, dtype=np.float64)
    v = np.asarray(valence, dtype=np.float64)
    a = np.asarray(arousal, dtype=np.float64)
    if not (len(t) == len(v) == len(a)):
        raise ConfigError("timestamps, valence and arousal must have the same length")
    dur = frame_durations(t)
    valid = ~(np.isnan(v) | np.isnan(a))
    w = np.where(valid, dur, 0.0)
    vz, az = np.nan_to_num(v), np.nan_to_num(a)
    quads = {
        "high_arousal_positive": valid & (vz >= 0) & (az >= 0),
        "high_arousal_negative": valid & (vz < 0) & (az >= 0),
        "low_arousal_negative": valid & (vz < 0) & (az < 0),
        "low_arousal_positive": valid & (vz >= 0) & (az < 0),
    }
    zone = valid & (vz < cfg.valence_threshold) & (az > cfg.arousal_threshold)
    intensity = np.where(valid, stress_intensity(vz, az), np.nan)
    episodes = _episodes(t, dur, zone, valid, cfg)
    longest = max(episodes, key=lambda e: e[1] - e[0]) if episodes else None
    index = _nanmean_w(intensity, dur)
    has_face = bool(valid.any())
    summary = {
        "valid_time_s": float(w.sum()),
        "total_time_s": float(dur.sum()),
        "quadrant_share": {k: _share(w, m) for k, m in quads.items()} if has_face else None,
        "stress_zone_share": _share(w, zone) if has_face else None,
        "stress_episodes": len(episodes),
        "longest_stress_episode_s": float(longest[1] - longest[0]) if longest else 0.0,
        "longest_stress_episode": (
            {"start_s": float(longest[0]), "end_s": float(longest[1])} if longest else None
        ),
        "episodes": [[round(float(s), 3), round(float(e), 3)] for s, e in episodes],
        "stress_index": None if index is None else round(100.0 * index, 1),
        "per_minute": per_window(t, v, a, cfg),
        "thresholds": {
            "valence_below": cfg.valence_threshold,
            "arousal_above": cfg.arousal_threshold,
            "min_episode_s": cfg.min_episode_s,
            "gap_tolerance_s": cfg.gap_tolerance_s,
            "window_s": cfg.window_s,
        },
        "disclaimer": DISCLAIMER,
    }
    return summary


def per_window(
    timestamps: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    config: StressConfig | None = None,
) -> list[dict]:
    """Aggregates per window of ``config.window_s`` seconds (per minute by default).

    Returns
    -------
    list of dict
        One entry per window that contains frames: ``start_s``, ``end_s``, ``face_share``,
        ``valence_mean``, ``arousal_mean``, ``stress_zone_share``, ``stress_index`` (None
        where the window has no face).
    """
    cfg = config or StressConfig()
    t = np.asarray(timestamps, dtype=np.float64)
    v = np.asarray(valence, dtype=np.float64)
    a = np.asarray(arousal, dtype=np.float64)
    if len(t) == 0:
        return []
    dur = frame_durations(t)
    valid = ~(np.isnan(v) | np.isnan(a))
    win = np.floor(t / cfg.window_s).astype(np.int64)
    rows = []
    for k in np.unique(win):
        m = win == k
        w = np.where(valid[m], dur[m], 0.0)
        vm, am = v[m], a[m]
        zone = valid[m] & (np.nan_to_num(vm) < cfg.valence_threshold)
        zone &= np.nan_to_num(am) > cfg.arousal_threshold
        intensity = stress_intensity(vm, am)
        idx = _nanmean_w(intensity, dur[m])
        rows.append(
            {
                "start_s": float(k * cfg.window_s),
                "end_s": float(min((k + 1) * cfg.window_s, t[m][-1] + dur[m][-1])),
                "face_share": _share(dur[m], valid[m]),
                "valence_mean": _nanmean_w(vm, dur[m]),
                "arousal_mean": _nanmean_w(am, dur[m]),
                "stress_zone_share": _share(w, zone) if w.sum() > 0 else None,
                "stress_index": None if idx is None else round(100.0 * idx, 1),
            }
        )
    return rows
