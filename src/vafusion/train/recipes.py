"""Training recipes: ``paper`` (the seed paper's settings, the default) and ``improved``.

``improved`` gathers what the best ABAW valence-arousal systems use and the paper did not;
each part is one config field, so an ablation switches one off at a time (CLI flags in
parentheses):

======================  =====================  ======================================
part                    paper                  improved
======================  =====================  ======================================
loss                    mse                    ccc (``--loss``)
model / context         fusion-gru, 15 frames  fusion-tcn, 127-frame receptive field,
                                               windows of 128 (``--model``, ``--window``)
optimiser               RMSprop 1e-4           Adam 1e-3 (``--lr``)
feature normalisation   training split         + per video (``--no-per-video-norm``)
development split       none (validation)      15 % of training videos (``--dev-fraction``)
annotation-lag shift    none                   tuned 0-2 s on dev (``--no-tune-lag``)
output smoothing        none                   tuned on dev (``--no-tune-smoothing``)
======================  =====================  ======================================
"""

from __future__ import annotations

from dataclasses import replace

from vafusion.errors import ConfigError
from vafusion.models.fusion import ModelConfig
from vafusion.train.config import DataConfig, TrainConfig

RECIPES = ("paper", "improved")


def recipe_config(name: str = "paper") -> TrainConfig:
    """The :class:`TrainConfig` of a recipe.

    Raises
    ------
    ConfigError
        Unknown recipe name.
    """
    if name == "paper":
        return TrainConfig()
    if name == "improved":
        base = TrainConfig()
        return replace(
            base,
            model=ModelConfig(name="fusion-tcn"),
            data=replace(
                DataConfig(), window=128, stride=64, dev_fraction=0.15, per_video_norm=True
            ),
            loss="ccc",
            optimizer="adam",
            lr=1e-3,
            tune_smoothing=True,
            tune_lag=True,
        )
    raise ConfigError(f"unknown recipe {name!r}; one of {', '.join(RECIPES)}")
