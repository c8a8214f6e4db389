"""Extraction: media -> per-frame feature tables, one decode pass per video.

Public API
----------
:class:`Pipeline`
    Built from a :class:`PipelineConfig`; owns the loaded feature sets and the face
    tracker (a context manager); ``process(video)`` -> :class:`VideoFeatures`.
:class:`PipelineConfig`, :class:`DecoderConfig`
    Every setting of every stage; each set's store key covers the settings it depends on.
:data:`FEATURE_SETS`, :func:`register`
    The typed feature-set registry (:class:`~vafusion.features.base.FeatureSet`).
:func:`extract`, :class:`ExtractReport`
    Many videos -> a feature store, in-process or on Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Pipeline": "vafusion.extraction.pipeline",
    "VideoFeatures": "vafusion.extraction.pipeline",
    "PipelineConfig": "vafusion.extraction.config",
    "DecoderConfig": "vafusion.extraction.config",
    "set_key": "vafusion.extraction.config",
    "FEATURE_SETS": "vafusion.extraction.registry",
    "register": "vafusion.extraction.registry",
    "parse_feature_sets": "vafusion.extraction.registry",
    "extract": "vafusion.extraction.batch",
    "ExtractReport": "vafusion.extraction.batch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package stays cheap
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vafusion.extraction' has no attribute {name!r}")
