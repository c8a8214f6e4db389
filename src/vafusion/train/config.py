"""Training configuration (dataclasses; defaults are the paper's settings where it gives them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vafusion.config import config_from_dict, config_to_dict, load_yaml_config
from vafusion.errors import ConfigError
from vafusion.models.fusion import ModelConfig

#: Fields that may differ between a run and its ``--resume`` (they do not change the result).
RESUMABLE_FIELDS = ("epochs", "device", "num_threads", "progress", "data_memory")


@dataclass(frozen=True)
class DataConfig:
    """How frame features become training windows.

    Attributes
    ----------
    window, stride : int
        Window length and stride in frames (paper: 15 frames, 5 overlapping -> stride 10).
    feature_sets : dict of str to str
        Feature-store set read for each modality.
    train_split, val_split : str
        Split names used for fitting and for the reported evaluation (and, without a
        development split, for early stopping and tuning too).
    dev_fraction : float
        Share of the training *videos* held out as a development split (by video; the
        ``_left`` / ``_right`` entries of one video stay together) for early stopping, the
        output smoothing and the label-lag shift; the validation split is then only
        evaluated at the end. 0 = early stopping on the validation split (the paper's way).
    per_video_norm : bool
        Also standardise each video's features by its own statistics
        (:class:`vafusion.data.sequences.WindowData` ``per_video``); training, evaluate and
        predict alike.
    mismatch_frames, mismatch_fraction : float
        Tolerance of annotation rows vs decoded frames per video
        (:class:`vafusion.datasets.Tolerance`: ``max(frames, fraction * n)``).
    """

    window: int = 15
    stride: int = 10
    feature_sets: dict[str, str] = field(
        default_factory=lambda: {
            "audio": "audio",
            "expression": "expression",
            "facepose": "facepose",
            "blendshapes": "blendshapes",
        }
    )
    train_split: str = "train"
    val_split: str = "val"
    dev_fraction: float = 0.0
    per_video_norm: bool = False
    mismatch_frames: int = 5
    mismatch_fraction: float = 0.01


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (saved in every checkpoint).

    Attributes
    ----------
    model : ModelConfig
    data : DataConfig
    epochs : int
        Maximum epochs.
    batch_size : int
        *Global* batch in windows (split across processes under DDP; Keras' default 32).
    lr : float
        Learning rate (paper: 1e-4).
    optimizer : str
        ``"rmsprop"`` (paper; Keras defaults rho=0.9, eps=1e-7) or ``"adam"``.
    loss : str
        ``"mse"`` (paper), ``"ccc"`` (1 - mean CCC over the batch) or ``"mse+ccc"``.
    patience : int
        Early stopping: epochs without validation-CCC improvement (0 = off).
    seed : int
        Seeds initialisation, sample order and dropout.
    device : str
        ``"cpu"`` or ``"cuda"``.
    num_threads : int
        torch intra-op threads per process (0 = cores / local processes).
    eval_batch_size : int
        Windows per inference batch.
    progress : bool
        Draw a progress bar (only on a terminal anyway).
    tune_smoothing : bool
        At the end, choose the output smoothing's time constants on the early-stopping split
        (:func:`vafusion.smoothing.tune_smoothing`); saved in ``best.pt`` and applied by
        ``evaluate`` and ``predict --model``. False (the paper): no smoothing.
    tune_lag : bool
        Also choose an annotation-lag shift of the predictions (0-2 s) there.
    max_steps : int
        Stop after this many optimizer steps in total (0 = no limit; smoke runs, benchmarks).
    data_memory : str
        Where training windows live: ``"ram"`` (features normalised and packed in memory,
        ``frames x sum(D) x 4 B``), ``"mmap"`` (read per batch from the feature store's
        memory maps; memory independent of the dataset size) or ``"auto"`` (RAM when the
        packed features fit in half the available memory). Same results either way.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    optimizer: str = "rmsprop"
    loss: str = "mse"
    patience: int = 10
    seed: int = 0
    device: str = "cpu"
    num_threads: int = 0
    eval_batch_size: int = 512
    progress: bool = True
    data_memory: str = "auto"
    max_steps: int = 0
    tune_smoothing: bool = False
    tune_lag: bool = False

    def __post_init__(self) -> None:
        if self.data_memory not in ("auto", "ram", "mmap"):
            raise ConfigError(f"data_memory must be auto, ram or mmap, got {self.data_memory!r}")
        if self.max_steps < 0:
            raise ConfigError(f"max_steps must be >= 0, got {self.max_steps}")
        if self.loss not in ("mse", "ccc", "mse+ccc"):
            raise ConfigError(f"loss must be mse, ccc or mse+ccc, got {self.loss!r}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ConfigError(f"optimizer must be rmsprop or adam, got {self.optimizer!r}")
        checks = (
            ("lr", self.lr, "a finite number > 0", lambda v: math.isfinite(v) and v > 0),
            ("epochs", self.epochs, "an integer >= 1", lambda v: v >= 1),
            ("patience", self.patience, "an integer >= 0 (0: no early stopping)", lambda v: v >= 0),
            ("batch_size", self.batch_size, "an integer >= 1", lambda v: v >= 1),
            ("eval_batch_size", self.eval_batch_size, "an integer >= 1", lambda v: v >= 1),
            ("num_threads", self.num_threads, "an integer >= 0 (0: all cores)", lambda v: v >= 0),
        )
        for name, value, rule, ok in checks:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ConfigError(f"{name} must be {rule}, got {value!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be cpu or cuda, got {self.device!r}")


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Validated :class:`TrainConfig` from a (YAML) mapping."""
    return config_from_dict(TrainConfig, data)


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a YAML training config (unknown keys are errors)."""
    return load_yaml_config(TrainConfig, path)


def with_overrides(config: TrainConfig, **kwargs: Any) -> TrainConfig:
    """Copy with top-level fields replaced (``None`` values ignored); ``model`` may be a name."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if isinstance(kwargs.get("model"), str):
        kwargs["model"] = replace(config.model, name=kwargs["model"])
    return replace(config, **kwargs)


def resume_compatible(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Names of fields that differ between a saved config dict and ``config`` (and matter)."""
    now = config_to_dict(config)
    return sorted(
        k for k in set(saved) | set(now) if k not in RESUMABLE_FIELDS and saved.get(k) != now.get(k)
    )
