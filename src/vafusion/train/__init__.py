"""Training, evaluation (CCC) and the Table I ablation.

Public API
----------
:func:`train` (``config, data_root, store_root, out, resume=False``) -> :class:`RunResult`
:func:`fit` - the same on in-memory :class:`~vafusion.data.VideoData` lists
:func:`evaluate` (``run, data_root, store_root, split, out``) -> metrics dict
:func:`ablate` - the paper's Table I
:func:`load_model`, :class:`TrainConfig`, :func:`ccc`, :func:`ccc_torch`
"""

from vafusion.train.ablate import ablate
from vafusion.train.config import DataConfig, TrainConfig, load_train_config
from vafusion.train.loop import RunResult, fit
from vafusion.train.metrics import ccc, ccc_torch, ccc_va
from vafusion.train.run import evaluate, evaluate_videos, load_model, train

__all__ = [
    "DataConfig",
    "RunResult",
    "TrainConfig",
    "ablate",
    "ccc",
    "ccc_torch",
    "ccc_va",
    "evaluate",
    "evaluate_videos",
    "fit",
    "load_model",
    "load_train_config",
    "train",
]
