"""Added cost of each cue of the default model (same-run ratios, interleaved rounds).

Run::

    .venv/bin/python benchmarks/bench_default_model.py [--rounds 5] [--clip CLIP]
        [--speech CLIP_WITH_SPEECH]

In one process with the models loaded once, each round times, in turn (interleaved, so
load changes hit all alike), ``predict_video`` of the clip (default: the bundled
WolfgangLanger_Pexels.mp4, 19.7 s, silent audio track) with

* ``circumplex``: the first model (expression network + boxes): the reference;
* ``default-face``: the default model without the voice (adds the ``facepose`` set:
  action units, geometry, head pose; and the face cues and fusion);
* ``default``: the default model as shipped (the voice analysis is skipped for a
  digitally silent track);

and the voice analysis alone (:func:`vafusion.predict.voice.voice_cues`) on the audio of
``--speech`` (default tests/data/clips/d20.mp4, 7 s). Printed: median and min-max of the
seconds, of each ratio to ``circumplex`` within the round, of the real-time factor, and of
the voice analysis' real-time factor; then the load averages (quote them).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "src" / "vafusion" / "assets" / "WolfgangLanger_Pexels.mp4"
SPEECH = REPO / "tests" / "data" / "clips" / "d20.mp4"


def _stats(x: list[float]) -> str:
    a = np.asarray(x)
    return f"median {np.median(a):.3f} (min {a.min():.3f}, max {a.max():.3f})"


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--speech", type=Path, default=SPEECH)
    args = ap.parse_args()

    from vafusion.io.audio import load_audio
    from vafusion.io.media import probe
    from vafusion.predict.circumplex_model import CircumplexModel
    from vafusion.predict.default_model import DefaultModel, DefaultModelConfig
    from vafusion.predict.voice import voice_cues

    models = {
        "circumplex": CircumplexModel(),
        "default-face": DefaultModel(DefaultModelConfig(use_voice=False)),
        "default": DefaultModel(),
    }
    duration = probe(args.clip).duration_s
    audio = load_audio(args.speech)
    audio_s = audio.end_s - audio.start_s
    for m in models.values():  # warm-up: first-call costs out of the rounds
        m.predict_video(args.clip)
    voice_cues(audio)
    secs: dict[str, list[float]] = {k: [] for k in models}
    ratios: dict[str, list[float]] = {k: [] for k in models if k != "circumplex"}
    voice_rt: list[float] = []
    for r in range(args.rounds):
        for name, m in models.items():
            t0 = time.perf_counter()
            m.predict_video(args.clip)
            secs[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        voice_cues(audio)
        voice_rt.append(audio_s / (time.perf_counter() - t0))
        for name in ratios:
            ratios[name].append(secs[name][-1] / secs["circumplex"][-1])
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"clip {args.clip.name}: {duration:.1f} s; {args.rounds} rounds")
    for name, s in secs.items():
        rt = [duration / x for x in s]
        print(f"{name:13s} seconds {_stats(s)}; real-time factor {_stats(rt)}")
    for name, x in ratios.items():
        print(f"{name:13s} / circumplex: {_stats(x)}")
    label = f"voice analysis on {args.speech.name} ({audio_s:.1f} s)"
    print(f"{label}: real-time factor {_stats(voice_rt)}")
    print("load average (1, 5, 15 min):", os.getloadavg())
    for m in models.values():
        m.close()


if __name__ == "__main__":
    main()
