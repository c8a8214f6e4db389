"""The whole configuration of an extraction pass: decoder, face tracker, feature sets.

A :class:`PipelineConfig` is what a :class:`~vafusion.extraction.Pipeline` is built from,
what a feature store records next to every entry and what a checkpoint stores, so that
``predict --model`` rebuilds exactly the pipeline a model was trained on. Each set's store
key (:func:`set_key`) covers every setting of every stage the set depends on: the set's own
config and version (and weights, through :meth:`FeatureSet.identity`), the decoder's size
cap for sets that see frames, and the face tracker's settings for sets that see faces. It
does not cover the package version: a release that changes a set's outputs bumps that
set's ``version``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vafusion.config import config_from_dict, config_to_dict
from vafusion.errors import ConfigError
from vafusion.faces.tracker import TrackerConfig
from vafusion.features.base import FeatureSet


@dataclass(frozen=True)
class DecoderConfig:
    """How frames are decoded.

    Attributes
    ----------
    max_side : int
        Frames are downscaled in FFmpeg's scaler so their longer side is at most this many
        pixels (0: never downscaled). Face coordinates are reported in original-frame
        pixels either way, but what the tracker sees changes, so it is part of the key of
        every set that sees frames.
    """

    max_side: int = 1280

    def __post_init__(self) -> None:
        if self.max_side < 0 or 0 < self.max_side < 64:
            raise ConfigError(f"decoder.max_side must be 0 (no cap) or >= 64, got {self.max_side}")

    @property
    def size_cap(self) -> int | None:
        """``max_side`` as the decoder takes it (None: no cap)."""
        return self.max_side or None


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that decides what an extraction pass computes.

    Attributes
    ----------
    features : tuple of str
        Feature-set names (see :data:`vafusion.extraction.registry.FEATURE_SETS`).
    decoder : DecoderConfig
    faces : TrackerConfig
        Face detection and tracking (used when a set needs faces).
    sets : mapping of str to config dataclass
        Per-set config; a set without an entry uses its defaults (the paper's settings).
    """

    features: tuple[str, ...] = ("audio",)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    faces: TrackerConfig = field(default_factory=TrackerConfig)
    sets: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from vafusion.extraction.registry import feature_set_class, parse_feature_sets

        if self.features:  # no set at all: a pass for extra accumulators only
            object.__setattr__(self, "features", tuple(parse_feature_sets(self.features)))
        unknown = sorted(set(self.sets) - set(self.features))
        if unknown:
            raise ConfigError(f"configs given for feature sets not requested: {unknown}")
        sets = {}
        for name in self.features:
            cls = feature_set_class(name)
            cfg = self.sets.get(name)
            if cfg is None:
                cfg = cls.config_class()
            elif isinstance(cfg, Mapping):
                cfg = config_from_dict(cls.config_class, dict(cfg), f"sets.{name}")
            elif not isinstance(cfg, cls.config_class):
                raise ConfigError(
                    f"sets.{name}: expected a {cls.config_class.__name__}, got {type(cfg).__name__}"
                )
            sets[name] = cfg
        object.__setattr__(self, "sets", sets)
        if "blendshapes" in self.features and not getattr(self.faces, "irises", True):
            raise ConfigError("the blendshapes set needs the iris points: faces.irises must be on")

    @classmethod
    def of(
        cls,
        features: str | Sequence[str] = ("audio",),
        sets: Mapping[str, Any] | None = None,
        *,
        max_side: int | None = None,
        faces: TrackerConfig | None = None,
    ) -> PipelineConfig:
        """Shortcut: ``PipelineConfig.of("audio,facepose", max_side=960)``."""
        from vafusion.extraction.registry import parse_feature_sets

        decoder = DecoderConfig() if max_side is None else DecoderConfig(max_side)
        return cls(
            features=tuple(parse_feature_sets(features)),
            decoder=decoder,
            faces=faces or TrackerConfig(),
            sets=dict(sets or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (every set's config filled in)."""
        return {
            "features": list(self.features),
            "decoder": config_to_dict(self.decoder),
            "faces": config_to_dict(self.faces),
            "sets": {name: config_to_dict(cfg) for name, cfg in self.sets.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "pipeline") -> PipelineConfig:
        """Inverse of :meth:`to_dict` (unknown keys and bad values raise ConfigError)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - {"features", "decoder", "faces", "sets"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        return cls(
            features=tuple(data.get("features") or ()),
            decoder=config_from_dict(DecoderConfig, dict(data.get("decoder") or {}), "decoder"),
            faces=config_from_dict(TrackerConfig, dict(data.get("faces") or {}), "faces"),
            sets=dict(data.get("sets") or {}),
        )

    def only(self, features: Sequence[str]) -> PipelineConfig:
        """The same settings restricted to some of its feature sets."""
        return PipelineConfig(
            tuple(features), self.decoder, self.faces, {n: self.sets[n] for n in features}
        )


def set_provenance(feature_set: FeatureSet, config: PipelineConfig) -> dict[str, Any]:
    """Everything one set's outputs depend on: its identity and the stages before it."""
    out: dict[str, Any] = {"set": feature_set.identity()}
    if feature_set.needs_frames or feature_set.needs_faces:
        out["decoder"] = config_to_dict(config.decoder)
    if feature_set.needs_faces:
        faces = config_to_dict(config.faces)
        if faces.get("irises", True):  # the default: keys made before the option stay valid
            faces.pop("irises", None)
        out["faces"] = faces
    return out


def set_key(feature_set: FeatureSet, config: PipelineConfig, length: int = 12) -> str:
    """Store key of one set's features: short sha256 of :func:`set_provenance`."""
    payload = json.dumps(set_provenance(feature_set, config), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
