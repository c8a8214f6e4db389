"""Checkpoints: a plain dict written atomically with ``torch.save``, read with
``torch.load(weights_only=True)`` (no pickled code is ever executed).

Keys: ``format`` (``"vafusion-checkpoint"``), ``format_version``, ``vafusion_version``,
``config`` (full :class:`~vafusion.train.config.TrainConfig` dict), ``spec``
(:class:`~vafusion.data.sequences.FeatureSpec` dict), ``normalizer`` (mean/std tensors),
``model_state``, and for resumable checkpoints ``optimizer_state``, ``epoch``, ``state``
(early-stopping state and history).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from vafusion import __version__
from vafusion.errors import ModelError
from vafusion.fileio import atomic_path

FORMAT = "vafusion-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format keys) to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "vafusion_version": __version__}
    data.update(payload)
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely.

    Raises
    ------
    ModelError
        Missing, corrupt, foreign or newer-format file (one line naming the file).
    """
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ModelError("no checkpoint (best.pt or last.pt) in run folder", path)
    if not path.is_file():
        raise ModelError("checkpoint not found", path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not ours"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"not a readable vafusion checkpoint ({msg[:120]})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError("not a vafusion checkpoint (missing format marker)", path)
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(
            f"checkpoint format {data.get('format_version')} is newer than this vafusion", path
        )
    for key in ("config", "spec", "normalizer", "model_state"):
        if key not in data:
            raise ModelError(f"checkpoint lacks {key!r}", path)
    bad = _non_finite(data["model_state"]) or _non_finite(data["normalizer"])
    if bad:  # a diverged run: it would predict NaN on frames marked valid
        raise ModelError(
            f"checkpoint has NaN or infinite weights ({bad}): a diverged training run; "
            "train again with a lower learning rate",
            path,
        )
    data["path"] = str(path)
    return data


def _non_finite(tensors: Any) -> str | None:
    """Name of the first floating tensor with a NaN/inf in a (nested) dict, or None."""
    if isinstance(tensors, dict):
        for name, t in tensors.items():
            if isinstance(t, dict):
                inner = _non_finite(t)
                if inner:
                    return f"{name}.{inner}"
            elif torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return str(name)
    return None
