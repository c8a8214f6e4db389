"""Temporal learnability check on SYNTHETIC data: does the sequence model learn over time?

Targets depend on the last 1-3 s of the features (:mod:`vafusion.data.temporal`: a leaky
integrator of one channel, a delayed copy of another). The same training loop fits

- ``gru``: the fusion network with one GRU branch (the paper's recurrent branch),
- ``mlp``: the fusion network with one per-frame Dense branch (the paper's facepose branch),
  widened to the GRU model's parameter count (within 15 %),
- ``tcn``: the long-context temporal-convolution network (``fusion-tcn``'s layers),
- ``control``: the GRU model on labels shuffled between videos (leakage control),

and reports each one's validation CCC. A sequence model must beat the per-frame model by a
clear margin, and the control must stay near 0. The best epoch is chosen on separate
development videos and the validation videos are predicted once at the end: choosing the
epoch on the reported videos would let even the control pick a lucky epoch (a GRU is a
low-pass filter of its inputs, which correlates a little with a running-average target).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from vafusion.models import ModelConfig, build_model
from vafusion.train.config import DataConfig, TrainConfig


@dataclass(frozen=True)
class TemporalSetup:
    """Sizes of one run (defaults: the benchmark; the test uses a smaller one).

    Attributes
    ----------
    n_train, n_val, frames : int
        Videos and frames per video (25 fps).
    window, stride : int
        Training windows (the GRU sees at most ``window - 1`` frames of past).
    units : int
        GRU hidden size (two layers: ``units``, ``units // 2``).
    epochs : int
    tau_s, delay_s : float
        Integrator time constant and copy delay of the targets.
    """

    n_train: int = 48
    n_val: int = 12
    frames: int = 1500
    window: int = 96
    stride: int = 24
    units: int = 32
    epochs: int = 12
    tau_s: float = 1.0
    delay_s: float = 1.0
    dim: int = 8
    seed: int = 0


def _n_params(cfg: ModelConfig, spec) -> int:
    return sum(p.numel() for p in build_model(cfg, spec).parameters())


def model_configs(setup: TemporalSetup, spec) -> dict[str, ModelConfig]:
    """The compared models: GRU, parameter-matched per-frame MLP, TCN."""
    u = setup.units
    common = dict(head_units=16, bn_momentum=0.1)
    gru = ModelConfig(name="audio", audio_units=(u, u // 2), audio_dropout=0.0, **common)
    target = _n_params(gru, spec)
    width = 4
    while True:  # widen the MLP until it has as many parameters as the GRU model
        mlp = ModelConfig(
            name="facepose", facepose_units=(width, u // 2), facepose_dropout=0.0, **common
        )
        if _n_params(mlp, spec) >= target:
            break
        width += 4
    tcn = ModelConfig(
        name="audio", rnn="tcn", branch_units=u // 2, tcn_channels=u // 2,
        tcn_dilations=(1, 2, 4, 8, 16), tcn_dropout=0.0, **common,
    )  # fmt: skip
    return {"gru": gru, "mlp": mlp, "tcn": tcn}


def run_temporal_benchmark(
    setup: TemporalSetup = TemporalSetup(), models: tuple[str, ...] = ("gru", "mlp", "tcn")
) -> dict[str, Any]:
    """Train each model (and the shuffled-label control), the best epoch chosen on
    development videos, and return the CCCs on separate validation videos.

    Returns
    -------
    dict
        ``{"setup": ..., "params": {model: n}, "ccc": {model: {"valence", "arousal",
        "mean"}}}``; models ``gru``, ``mlp``, ``tcn`` and ``control``.
    """
    from dataclasses import asdict

    from vafusion.data.temporal import temporal_spec, temporal_videos
    from vafusion.train.loop import fit

    spec = temporal_spec(setup.dim)
    kw = dict(frames=setup.frames, dim=setup.dim, tau_s=setup.tau_s, delay_s=setup.delay_s)
    train = temporal_videos(setup.n_train, seed=setup.seed, **kw)
    dev = temporal_videos(setup.n_val, seed=setup.seed + 2, split="dev", **kw)
    val = temporal_videos(setup.n_val, seed=setup.seed + 1, split="val", **kw)
    shuffled = temporal_videos(setup.n_train, seed=setup.seed, shuffle_labels=True, **kw)
    cfgs = model_configs(setup, spec)
    runs = [(m, cfgs[m], train) for m in models] + [("control", cfgs["gru"], shuffled)]
    out: dict[str, Any] = {"setup": asdict(setup), "params": {}, "ccc": {}}
    for name, mc, videos in runs:
        cfg = TrainConfig(
            model=mc,
            data=DataConfig(window=setup.window, stride=setup.stride),
            epochs=setup.epochs, batch_size=32, lr=3e-3, optimizer="adam", loss="mse+ccc",
            patience=0, seed=setup.seed, num_threads=1, progress=False,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            fit(cfg, videos, dev, spec, tmp)
            best = _validation_ccc(tmp, val)
        out["params"][name] = _n_params(mc, spec)
        out["ccc"][name] = best
    return out


def _validation_ccc(run: str, videos: list) -> dict[str, float]:
    """CCC of the run's best checkpoint on ``videos`` (predicted once)."""
    import numpy as np

    from vafusion.data.sequences import WindowData
    from vafusion.train.metrics import ccc_va
    from vafusion.train.predict import predict_frames
    from vafusion.train.run import load_model

    model, ckpt = load_model(run)
    dc = ckpt["config"].data
    data = WindowData(videos, ckpt["spec"], ckpt["normalizer"], dc.window, dc.stride)
    preds = predict_frames(model, data)
    m = ccc_va(np.concatenate(preds), np.concatenate([v.labels for v in videos]))
    return {"valence": m["ccc_valence"], "arousal": m["ccc_arousal"], "mean": m["ccc_mean"]}
