"""vafusion: frame-by-frame valence and arousal from video with audio.

The public API is re-exported lazily here so that ``import vafusion`` stays fast.
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

__all__ = [
    "__version__",
    "VafusionError",
    "MediaError",
    "AnnotationError",
    "ConfigError",
    "ModelError",
    "StoreError",
    "set_verbosity",
]
