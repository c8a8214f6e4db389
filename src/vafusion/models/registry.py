"""Model registry: build a model by name from a :class:`ModelConfig` and a feature spec.

Built-in names: ``fusion-gru`` (the paper: audio, expression, facepose), ``fusion-bilstm``
(its BiLSTM variant), the single branches ``audio``, ``expression``, ``blendshapes``,
``facepose``, and any ``+``-joined set of branches (``audio+expression``,
``audio+blendshapes+facepose``...: the same fusion network with those branches; GRU unless
``ModelConfig.rnn`` says ``bilstm``, or ``tcn`` for the temporal-convolution network), and
``fusion-tcn`` (long context: :mod:`vafusion.models.tcn`). :func:`register_model` adds new
names.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vafusion.data.sequences import MODALITIES, PAPER_MODALITIES, FeatureSpec
from vafusion.errors import ConfigError, ModelError
from vafusion.models.fusion import FusionModel, ModelConfig

Builder = Callable[[ModelConfig, FeatureSpec], nn.Module]
_REGISTRY: dict[str, tuple[Builder, tuple[str, ...]]] = {}


def register_model(name: str, modalities: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(config, spec) -> nn.Module`` under ``name``."""

    def deco(fn: Builder) -> Builder:
        _REGISTRY[name] = (fn, modalities)
        return fn

    return deco


def _rnn(
    config: ModelConfig, default: str, allowed: tuple[str, ...] = ("gru", "bilstm", "tcn")
) -> str:
    kind = config.rnn or default
    if kind in ("gru", "bilstm", "tcn") and kind not in allowed:
        raise ConfigError(f"model {config.name!r} cannot use model.rnn {kind!r}")
    if kind not in ("gru", "bilstm", "tcn"):
        raise ConfigError(f"model.rnn must be 'gru', 'bilstm' or 'tcn', got {kind!r}")
    return kind


@register_model("fusion-gru", PAPER_MODALITIES)
def _fusion_gru(config: ModelConfig, spec: FeatureSpec) -> nn.Module:
    return FusionModel(config, spec, PAPER_MODALITIES, _rnn(config, "gru", ("gru", "bilstm")))


@register_model("fusion-bilstm", PAPER_MODALITIES)
def _fusion_bilstm(config: ModelConfig, spec: FeatureSpec) -> nn.Module:
    return FusionModel(config, spec, PAPER_MODALITIES, _rnn(config, "bilstm", ("gru", "bilstm")))


@register_model("fusion-tcn", PAPER_MODALITIES)
def _fusion_tcn(config: ModelConfig, spec: FeatureSpec) -> nn.Module:
    from vafusion.models.tcn import TCNFusion

    return TCNFusion(config, spec, PAPER_MODALITIES)


def _parse_combo(name: str) -> tuple[str, ...] | None:
    parts = name.split("+")
    if not parts or any(p not in MODALITIES for p in parts) or len(set(parts)) != len(parts):
        return None
    return tuple(m for m in MODALITIES if m in parts)


def model_modalities(name: str) -> tuple[str, ...]:
    """Modalities a model name reads (raises :class:`ConfigError` for an unknown name)."""
    if name in _REGISTRY:
        return _REGISTRY[name][1]
    combo = _parse_combo(name)
    if combo is None:
        raise ConfigError(
            f"unknown model {name!r}; known: {', '.join(model_names())} or a '+'-joined set of "
            f"{', '.join(MODALITIES)}"
        )
    return combo


def model_names() -> list[str]:
    """Registered names (plus the single branches)."""
    return sorted(set(_REGISTRY) | set(MODALITIES))


def build_model(config: ModelConfig, spec: FeatureSpec) -> nn.Module:
    """Build the model ``config.name`` for inputs described by ``spec``.

    Raises
    ------
    ConfigError
        Unknown name.
    ModelError
        ``spec`` lacks a modality the model needs.
    """
    mods = model_modalities(config.name)
    missing = [m for m in mods if m not in spec.dims]
    if missing:
        raise ModelError(f"model {config.name!r} needs features {missing} not in the data")
    if config.name in _REGISTRY:
        return _REGISTRY[config.name][0](config, spec)
    kind = _rnn(config, "gru")
    if kind == "tcn":
        from vafusion.models.tcn import TCNFusion

        return TCNFusion(config, spec, mods)
    return FusionModel(config, spec, mods, kind)
