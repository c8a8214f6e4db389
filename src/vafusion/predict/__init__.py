"""Per-frame valence/arousal for any video: models, ``predict``, live mode.

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
