"""The feature-set registry: name -> :class:`~vafusion.features.base.FeatureSet` subclass.

Registration is explicit: each built-in set is imported here and passed to
:func:`register` (no "module:Class" strings). Importing a set's module is cheap; its heavy
dependencies (librosa, ONNX Runtime, MediaPipe, openSMILE) load when it is instantiated.
A plug-in set calls :func:`register` with its class before building a pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from vafusion.errors import ConfigError
from vafusion.expression.extractor import ExpressionSet
from vafusion.faces.blendshapes_set import BlendshapesSet
from vafusion.faces.facepose import FacePoseSet
from vafusion.features.audio import AudioSet
from vafusion.features.base import FeatureSet
from vafusion.features.egemaps import EgemapsSet

#: Registered feature sets, in registration order.
FEATURE_SETS: dict[str, type[FeatureSet]] = {}


def register(cls: type[FeatureSet]) -> type[FeatureSet]:
    """Register a :class:`FeatureSet` subclass under its ``name`` (usable as a decorator).

    Raises
    ------
    ConfigError
        ``cls`` is not a FeatureSet subclass, or its name is taken by another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, FeatureSet)):
        raise ConfigError(f"{cls!r} is not a FeatureSet subclass")
    name = getattr(cls, "name", "")
    if not name or name.startswith("_"):
        raise ConfigError(f"feature set {cls.__name__} needs a public name")
    if FEATURE_SETS.get(name, cls) is not cls:
        raise ConfigError(f"feature set name {name!r} is already registered")
    FEATURE_SETS[name] = cls
    return cls


for _cls in (AudioSet, EgemapsSet, FacePoseSet, ExpressionSet, BlendshapesSet):
    register(_cls)


def feature_set_class(name: str) -> type[FeatureSet]:
    """The class registered under ``name``.

    Raises
    ------
    ConfigError
        Unknown name.
    """
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown feature set {name!r}; known: {', '.join(FEATURE_SETS)}"
        ) from None


def parse_feature_sets(spec: str | Sequence[str]) -> list[str]:
    """Split ``"audio,facepose"`` into known feature-set names (order kept, no repeats).

    Raises
    ------
    ConfigError
        An unknown name, or no name at all.
    """
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in FEATURE_SETS]
    if unknown:
        raise ConfigError(
            f"unknown feature set(s) {', '.join(unknown)}; known: {', '.join(FEATURE_SETS)}"
        )
    if not names:
        raise ConfigError("no feature set requested")
    return names
