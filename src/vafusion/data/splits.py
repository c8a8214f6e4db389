"""A development split carved out of the training videos (by video, never by frame).

Early stopping, the output-smoothing time constants and the label-lag shift are chosen on
the development split, so the validation split stays untouched until the final,
reported evaluation.
"""

from __future__ import annotations

import math

import numpy as np

from vafusion.data.sequences import VideoData
from vafusion.errors import ConfigError


def dev_split(
    videos: list[VideoData], fraction: float, seed: int = 0
) -> tuple[list[VideoData], list[VideoData]]:
    """Split training videos into (train, dev) by video.

    Entries of one video (Aff-Wild2's ``_left`` / ``_right`` subjects) always land on the
    same side, so no frame of a dev video is ever trained on.

    Parameters
    ----------
    videos : list of VideoData
        Training videos; grouped by ``video`` (store key), else ``name``.
    fraction : float
        Share of the *videos* held out, in [0, 1); at least one video when > 0.
    seed : int
        Seeds the choice (same seed, same split).

    Returns
    -------
    train, dev : list of VideoData
        In their input order.

    Raises
    ------
    ConfigError
        ``fraction`` outside [0, 1), or too few videos to keep one on each side.
    """
    if not (math.isfinite(fraction) and 0.0 <= fraction < 1.0):
        raise ConfigError(f"dev fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return list(videos), []
    groups = list(dict.fromkeys(v.video or v.name for v in videos))
    if len(groups) < 2:
        raise ConfigError(f"a development split needs >= 2 training videos, got {len(groups)}")
    k = min(len(groups) - 1, max(1, round(fraction * len(groups))))
    rng = np.random.default_rng(seed)
    held = {groups[i] for i in rng.permutation(len(groups))[:k]}
    train = [v for v in videos if (v.video or v.name) not in held]
    dev = [v for v in videos if (v.video or v.name) in held]
    return train, dev
