"""vafusion: frame-by-frame valence and arousal from video with audio.

The public API, re-exported lazily so that ``import vafusion`` stays fast:

:func:`predict`
    Videos -> per-frame valence/arousal DataFrames (``vafusion.predict`` is the package
    :mod:`vafusion.predict` and, called, :func:`vafusion.predict.api.predict`).
:func:`extract`
    Videos -> a feature store (in-process or on Dask).
:func:`process_file`, :func:`process_files`
    Videos -> time-indexed feature DataFrames (batch calls: :class:`BatchResult`).
:class:`Pipeline`, :class:`PipelineConfig`
    The extraction engine (:mod:`vafusion.extraction`).
:func:`probe`, :class:`Video`
    Media facts; the one decoder (:mod:`vafusion.io`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from vafusion.errors import (  # noqa: E402
    AnnotationError,
    ConfigError,
    MediaError,
    ModelError,
    StoreError,
    VafusionError,
)
from vafusion.log import set_verbosity  # noqa: E402

_LAZY = {
    "extract": "vafusion.extraction.batch",
    "Pipeline": "vafusion.extraction.pipeline",
    "PipelineConfig": "vafusion.extraction.config",
    "process_file": "vafusion.api",
    "process_files": "vafusion.api",
    "BatchResult": "vafusion.results",
    "probe": "vafusion.io.media",
    "Video": "vafusion.io.media",
}


def __getattr__(name: str):
    import importlib

    if name == "predict":  # the package, callable as the function (see its docstring)
        return importlib.import_module("vafusion.predict")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vafusion' has no attribute {name!r}")


__all__ = [
    "__version__",
    "predict",
    *_LAZY,
    "VafusionError",
    "MediaError",
    "AnnotationError",
    "ConfigError",
    "ModelError",
    "StoreError",
    "set_verbosity",
]
