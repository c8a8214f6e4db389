"""Stress-index examples at realistic classifier confidence (docs/default-model.md).

For each expression class, a probability vector with that class at 0.6 and the rest shared
equally (top-class confidence of the mini-Xception on real faces is typically 0.4-0.8, not
1.0), mapped through the circumplex prior for valence; arousal is the default model's
annotation mean (0.2) or one annotation sd above it (0.45). The stress index of a stretch
holding that point is ``100 * max(0, (a - v) / 2)`` (vafusion.report.stress).
"""

from __future__ import annotations

import numpy as np

from vafusion.predict.circumplex import EMOTIONS, probabilities_to_va
from vafusion.predict.fusion import AROUSAL_MEAN, AROUSAL_SD


def main() -> None:
    """Print one line per class."""
    print("| class at p=0.6 | valence | stress index, arousal 0.20 | arousal 0.45 |")
    print("|---|---:|---:|---:|")
    for k, name in enumerate(EMOTIONS):
        p = np.full(len(EMOTIONS), 0.4 / (len(EMOTIONS) - 1))
        p[k] = 0.6
        v = float(probabilities_to_va(p[None])[0, 0])
        idx = [100 * max(0.0, (a - v) / 2) for a in (AROUSAL_MEAN, AROUSAL_MEAN + AROUSAL_SD)]
        print(f"| {name} | {v:+.2f} | {idx[0]:.0f} | {idx[1]:.0f} |")


if __name__ == "__main__":
    main()
