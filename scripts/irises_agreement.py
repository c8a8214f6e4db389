"""The default model with and without the iris refinement: how much its outputs differ.

For each video, the default model's main-face curves with its own tracker settings
(``irises=False``) and with the refined mesh (``TrackerConfig()``); printed: Pearson r of
valence and of arousal over the frames both see, and the two arousal means and spreads.
Unlabelled footage: this says how much the change moves the outputs, not which is right.

Usage: python scripts/irises_agreement.py VIDEO [VIDEO ...]
"""

from __future__ import annotations

import sys

import numpy as np

from vafusion.faces.tracker import TrackerConfig
from vafusion.predict.default_model import DefaultModel


def main(videos: list[str]) -> None:
    """Print the agreement (see the module docstring)."""
    plain, refined = DefaultModel(), DefaultModel(tracker_config=TrackerConfig())
    try:
        for video in videos:
            a = plain.predict_video(video).faces[0].va
            b = refined.predict_video(video).faces[0].va
            ok = np.isfinite(a[:, 0]) & np.isfinite(b[:, 0])
            rv, ra = (np.corrcoef(a[ok, d], b[ok, d])[0, 1] for d in (0, 1))
            print(
                f"{video}: {ok.sum()} frames, r valence {rv:.3f}, r arousal {ra:.3f}; arousal "
                f"mean {a[ok, 1].mean():+.3f} / {b[ok, 1].mean():+.3f}, sd "
                f"{a[ok, 1].std():.3f} / {b[ok, 1].std():.3f} (without / with irises)"
            )
    finally:
        plain.close()
        refined.close()


if __name__ == "__main__":
    main(sys.argv[1:])
