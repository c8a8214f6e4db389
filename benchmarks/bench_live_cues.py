"""Live mode's causal cues against the offline default model, and what they cost.

Run::

    .venv/bin/python benchmarks/bench_live_cues.py [--clip CLIP] [--repeat 3]

The clip (default: the bundled sample clip) is tracked once; every frame is then fed to
the live sessions (no frame dropped, as if processing kept up with the source), and the
offline default model runs on the same file. Printed:

1. **Agreement** of live with offline, for the main face: Pearson r of valence and arousal,
   arousal's r when live is shifted earlier by 0-0.6 s (live trails: trailing windows,
   backward differences, one-pass smoothing), the ratio of the spreads and the difference
   of the means; and the same r for the prior alone (``--model circumplex`` live), the
   reference the cues must beat.
2. **Cost** per frame of a live session's step (classification included, tracking not):
   the default model's cues and the prior alone, interleaved round by round; the ratio
   is the cues' added cost relative to the prior's step.

Quote the load averages printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"


def track(model, clip):
    from vafusion.io.media import iter_frames

    tracker = model.new_tracker()
    frames = []
    for vf in iter_frames(clip, max_side=model.config.max_side):
        faces = tracker.process(vf)
        for f in faces:
            _ = f.aligned  # warp now, not inside the timed steps
        h, w = vf.image.shape[:2]
        frames.append((vf.timestamp, faces, (round(w / vf.scale), round(h / vf.scale))))
    tracker.close()
    return frames


def feed(session, frames, face_id):
    va = np.full((len(frames), 2), np.nan)
    t0 = time.perf_counter()
    for i, (t, faces, size) in enumerate(frames):
        for r in session.step(t, [f for f in faces if f.face_id == face_id], size):
            va[i] = r.va
    return va, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=SAMPLE)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from vafusion.predict.default_model import DefaultModel
    from vafusion.predict.live_cues import PriorLiveSession

    model = DefaultModel()
    main_face = model.predict_video(args.clip).faces[0]
    offline, face_id = main_face.va.astype(np.float64), main_face.face_id
    frames = track(model, args.clip)
    fps = 1.0 / np.median(np.diff([f[0] for f in frames]))
    print(f"clip {args.clip.name}: {len(frames)} frames, {fps:.3f} fps, main face {face_id}")
    print(f"load averages before: {os.getloadavg()}")

    costs = {"cues": [], "prior": []}
    for _ in range(args.repeat):
        live, dt = feed(model.live_session(), frames, face_id)
        costs["cues"].append(dt / len(frames))
        prior, dt = feed(PriorLiveSession(model), frames, face_id)
        costs["prior"].append(dt / len(frames))

    ok = np.isfinite(live[:, 0]) & np.isfinite(offline[:, 0])
    print(f"\n1. agreement on {ok.sum()} frames with the face (live = every frame fed)")
    for d, name in enumerate(("valence", "arousal")):
        r = np.corrcoef(live[ok, d], offline[ok, d])[0, 1]
        rp = np.corrcoef(prior[ok, d], offline[ok, d])[0, 1]
        ratio = live[ok, d].std() / offline[ok, d].std()
        diff = live[ok, d].mean() - offline[ok, d].mean()
        print(
            f"  {name}: r {r:.3f} (prior alone {rp:.3f}), spread live/offline {ratio:.2f}, "
            f"mean live - offline {diff:+.3f}"
        )
    shifts = []
    for shift_s in (0.0, 0.2, 0.4, 0.6):
        k = int(round(shift_s * fps))
        x, y = live[k:, 1], offline[: len(offline) - k, 1]
        both = np.isfinite(x) & np.isfinite(y)
        shifts.append(f"{shift_s:.1f} s: {np.corrcoef(x[both], y[both])[0, 1]:.3f}")
    print("  arousal r with live shifted earlier by " + ", ".join(shifts))

    cue, pri = np.asarray(costs["cues"]), np.asarray(costs["prior"])
    print(f"\n2. cost per frame (one face), {args.repeat} interleaved rounds, median [min-max]")
    print(f"  cues  {1e3 * np.median(cue):.2f} ms [{1e3 * cue.min():.2f}-{1e3 * cue.max():.2f}]")
    print(f"  prior {1e3 * np.median(pri):.2f} ms [{1e3 * pri.min():.2f}-{1e3 * pri.max():.2f}]")
    print(f"  ratio cues / prior {np.median(cue / pri):.2f}")
    print(f"load averages after: {os.getloadavg()}")
    model.close()


if __name__ == "__main__":
    main()
