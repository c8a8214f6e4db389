"""Reference statistics of the default model's face cues (constants in predict/fusion.py).

For each video: run the default model's pass (main face), compute the face cues, and
print the pooled mean and sd of each arousal cue over all frames with a face, then the
pooled sd of the fused arousal in z units (output with AROUSAL_MEAN = 0, AROUSAL_SD = 1 and
FACE_COMPOSITE_SD = 1), which becomes ``FACE_COMPOSITE_SD``. The inputs are unlabelled:
these numbers fix each cue's units and spread, not what any label says.

Usage: python scripts/default_model_reference.py VIDEO [VIDEO ...]
"""

from __future__ import annotations

import sys

import numpy as np

from vafusion.predict import combine, fusion
from vafusion.predict.default_model import DefaultModel, DefaultModelConfig


def main(videos: list[str]) -> None:
    """Print the references (see the module docstring)."""
    model = DefaultModel(DefaultModelConfig(use_voice=False))
    cues: dict[str, list[np.ndarray]] = {c: [] for c in fusion.FACE_AROUSAL_CUES}
    fused = []
    orig = combine.face_cues

    def spy(*args, **kwargs):
        fc = orig(*args, **kwargs)
        for c in cues:
            cues[c].append(fc.values[c][fc.valid])
        return fc

    combine.face_cues = spy
    fusion.AROUSAL_MEAN, fusion.AROUSAL_SD, fusion.FACE_COMPOSITE_SD = 0.0, 1.0, 1.0
    try:
        for v in videos:
            pred = model.predict_video(v)
            a = pred.faces[0].va[:, 1]
            fused.append(a[np.isfinite(a)])
            print(f"{v}: {int(np.isfinite(a).sum())} frames with a face")
    finally:
        combine.face_cues = orig
        model.close()
    for c, parts in cues.items():
        x = np.concatenate(parts)
        print(f"{c}: mean {x.mean():.3f} sd {x.std():.3f}")
    print(f"fused z: sd {np.concatenate(fused).std():.3f} -> FACE_COMPOSITE_SD")


if __name__ == "__main__":
    main(sys.argv[1:])
