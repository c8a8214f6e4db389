"""Valence-arousal sequence models (the paper's fusion network and its ablations)."""

from vafusion.models.fusion import FusionModel, ModelConfig
from vafusion.models.registry import build_model, model_modalities, model_names, register_model

__all__ = [
    "FusionModel",
    "ModelConfig",
    "build_model",
    "model_modalities",
    "model_names",
    "register_model",
]
