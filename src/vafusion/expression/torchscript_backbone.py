"""``torchscript:/path/model.pt``: any TorchScript module as an expression backbone.

The file must be a TorchScript archive (``torch.jit.save`` of a scripted or traced module):
it carries its own code, so no Python class is needed and nothing is unpickled. A plain
checkpoint (``torch.save`` of a state dict or a pickled module) is refused with a clear
error: without its architecture it cannot run, and unpickling arbitrary objects is unsafe.

Options as for ONNX (:class:`~vafusion.expression.backbone.InputOptions`); ``output`` and
``probs_output`` pick an element of a tuple/list output by index (``"0"``, ``"1"``) or of a
dict output by key. Default: a tensor output, or element 0 of a tuple.
"""

from __future__ import annotations

import warnings
import zipfile
from typing import Any

import numpy as np

from vafusion.errors import ModelError
from vafusion.expression.backbone import (
    ExpressionBackbone,
    InputOptions,
    input_options_from,
    probe_dims,
    softmax,
    torch_threads,
)
from vafusion.expression.onnx_backbone import _class_names, pool_embedding
from vafusion.fileio import file_sha256


def _pick(out: Any, key: str, path: str) -> Any:
    if isinstance(out, dict):
        if key not in out:
            raise ModelError(f"output {key!r} not among {', '.join(map(str, out))}", path)
        return out[key]
    if isinstance(out, (tuple, list)):
        try:
            return out[int(key)]
        except (ValueError, IndexError):
            raise ModelError(f"output index {key!r} invalid for {len(out)} outputs", path) from None
    if key not in ("", "0"):
        raise ModelError(f"the module returns one tensor; output {key!r} does not exist", path)
    return out


class TorchScriptBackbone(ExpressionBackbone):
    """A TorchScript module run with PyTorch on the CPU.

    Parameters
    ----------
    path : str
        A ``torch.jit.save`` archive.
    options : InputOptions
    num_threads : int
    """

    kind = "torchscript"

    def __init__(self, path: str, options: InputOptions, num_threads: int = 1) -> None:
        import torch

        self.path = str(path)
        self.sha256 = file_sha256(path)
        self.options = options
        self.num_threads = num_threads
        if not zipfile.is_zipfile(path):
            raise ModelError("not a TorchScript archive (expected a torch.jit.save zip)", path)
        try:
            with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; it still works
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(self.path, map_location="cpu").eval()
        except Exception as exc:
            raise ModelError(
                "not a TorchScript archive; a state dict or pickled model cannot be run "
                f"without its code: export it with torch.jit.script/trace + torch.jit.save "
                f"({str(exc).splitlines()[0]})",
                path,
            ) from None
        self.embedding_dim, n_classes = probe_dims(self)
        self.class_names = _class_names(options, n_classes, path)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        try:
            with torch_threads(self.num_threads), torch.inference_mode():
                out = self.module(x)
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            msg = f"the TorchScript module failed on the face batch: {msg}"
            raise ModelError(msg, self.path) from None
        emb = _pick(out, self.options.output or "0", self.path)
        emb = pool_embedding(emb.detach().float().numpy(), self.options.layout)
        if not self.options.probs_output:
            return emb, None
        probs = _pick(out, self.options.probs_output, self.path).detach().float().numpy()
        probs = probs.reshape(len(batch), -1)
        return emb, softmax(probs) if self.options.softmax else probs


def make_torchscript(
    path: str | None, options: dict[str, Any], num_threads: int
) -> TorchScriptBackbone:
    """Registry factory for ``torchscript:/path/model.pt``."""
    if path is None:
        raise ModelError("the torchscript backbone needs a path: torchscript:/path/model.pt")
    return TorchScriptBackbone(path, input_options_from(options), num_threads)
