"""Per-feature standardisation fitted on the training split only (NaN-aware).

Statistics are computed over the *valid* frames of the training videos; they travel inside
every checkpoint (:meth:`Normalizer.to_state` / :meth:`Normalizer.from_state`) so a model is
always applied with the statistics it was trained with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from vafusion.errors import ModelError


@dataclass
class Normalizer:
    """Mean/std standardisation per modality and column.

    Attributes
    ----------
    mean, std : dict of str to numpy.ndarray, each shape (D,), float64
        Statistics per modality; ``std`` is 1 for constant or never-valid columns.
    """

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]

    @classmethod
    def fit(
        cls, blocks: dict[str, Iterable[tuple[np.ndarray, np.ndarray]]], min_std: float = 1e-6
    ) -> Normalizer:
        """Fit on ``{modality: [(values (N, D), valid (N,)), ...]}`` (training videos).

        NaN entries of valid rows are ignored column by column. Uses float64 running sums
        (one pass, no concatenation of the whole split).
        """
        mean: dict[str, np.ndarray] = {}
        std: dict[str, np.ndarray] = {}
        for name, items in blocks.items():
            s1 = s2 = n = None
            for values, valid in items:
                x = np.asarray(values, dtype=np.float64)[np.asarray(valid, dtype=bool)]
                finite = np.isfinite(x)
                x = np.where(finite, x, 0.0)
                if s1 is None:
                    s1 = np.zeros(x.shape[1])
                    s2 = np.zeros(x.shape[1])
                    n = np.zeros(x.shape[1])
                s1 += x.sum(0)
                s2 += (x * x).sum(0)
                n += finite.sum(0)
            if s1 is None:
                continue
            m = np.divide(s1, n, out=np.zeros_like(s1), where=n > 0)
            var = np.divide(s2, n, out=np.zeros_like(s2), where=n > 0) - m * m
            sd = np.sqrt(np.maximum(var, 0.0))
            sd[sd < min_std] = 1.0
            mean[name], std[name] = m, sd
        return cls(mean, std)

    def transform(self, name: str, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Standardise one modality; invalid rows and NaN cells become 0 (the mean).

        Parameters
        ----------
        values : numpy.ndarray, shape (N, D)
        valid : numpy.ndarray of bool, shape (N,)

        Returns
        -------
        numpy.ndarray, shape (N, D), float32
        """
        if name not in self.mean:
            raise ModelError(f"no normalisation statistics for modality {name!r}")
        m, s = self.mean[name], self.std[name]
        if values.shape[1] != m.shape[0]:
            raise ModelError(
                f"modality {name!r} has {values.shape[1]} columns, model expects {m.shape[0]}"
            )
        # float32 arithmetic (statistics rounded once): per training batch this is ~4x
        # cheaper than float64 and the inputs are float32 anyway
        out = np.array(values, dtype=np.float32, copy=True)
        out -= m.astype(np.float32)
        out /= s.astype(np.float32)
        out[~np.isfinite(out)] = 0.0
        out[~np.asarray(valid, dtype=bool)] = 0.0
        return out

    def to_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Plain tensors for a ``weights_only`` checkpoint."""
        return {
            name: {
                "mean": torch.from_numpy(self.mean[name].copy()),
                "std": torch.from_numpy(self.std[name].copy()),
            }
            for name in self.mean
        }

    @classmethod
    def from_state(cls, state: dict) -> Normalizer:
        """Inverse of :meth:`to_state`."""
        try:
            mean = {k: np.asarray(v["mean"], dtype=np.float64) for k, v in state.items()}
            std = {k: np.asarray(v["std"], dtype=np.float64) for k, v in state.items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"invalid normalisation statistics: {exc}") from None
        return cls(mean, std)
