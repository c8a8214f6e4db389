"""Per-frame valence/arousal for any video: models, ``predict``, live mode.

The package is callable: ``vafusion.predict("clip.mp4")`` is
:func:`vafusion.predict.api.predict` (so the front door's ``predict`` and this package are
one name, whichever of them was imported first).

Public API
----------
:func:`predict`
    Videos -> DataFrame(s) indexed by time (+ CSV/PNG/HTML/JSON files with ``out``).
:func:`predict_to_folder`
    The same for many videos without raising on a bad one (what the CLI uses).
:func:`load_model`
    ``"default"`` (the built-in circumplex prior) or a training checkpoint.
:func:`run_live`
    Live source (camera, stream URL, file at real-time pace) -> one JSON line per frame.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["predict", "predict_to_folder", "load_model", "run_live"]


def __getattr__(name: str) -> Any:  # lazy: importing vafusion.predict stays cheap
    if name in ("predict", "predict_to_folder", "load_model"):
        from vafusion.predict import api

        return getattr(api, name)
    if name == "run_live":
        from vafusion.predict.live import run_live

        return run_live
    raise AttributeError(name)


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from vafusion.predict.api import predict

        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
