"""Frame-level features + labels of many videos, preloaded as contiguous windows for training.

:class:`VideoData` is the plain per-video record (dense per-frame features of each modality
with a validity mask, labels with NaN where Aff-Wild2 has -5). :class:`WindowData` normalises
and packs a list of them into one contiguous float32 array per modality, each video padded
to a whole number of windows, so that a batch of windows is a single vectorised gather
(``rows = offsets[idx, None] + arange(length)``) with no Python loop per sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vafusion.data.normalize import Normalizer
from vafusion.data.windows import check_window, n_windows
from vafusion.errors import ModelError

#: Modalities the models know, in branch order.
MODALITIES = ("audio", "expression", "facepose")


@dataclass
class VideoData:
    """Dense per-frame inputs and targets of one video (one annotated subject).

    Attributes
    ----------
    name : str
        Annotation name (video stem, possibly with ``_left`` / ``_right``).
    n_frames : int
        Number of frames ``N`` (the annotation length when labelled).
    features : dict of str to numpy.ndarray, each shape (N, D_m), float32
        Per modality; NaN allowed on invalid rows.
    valid : dict of str to numpy.ndarray, each shape (N,), bool
        Per-modality validity (False = no face / no audio on that frame).
    labels : numpy.ndarray, shape (N, 2), float32, optional
        ``(valence, arousal)``; NaN where the annotation is -5; None for unlabelled videos.
    split : str
        ``"train"``, ``"validation"``, ``"test"``...
    """

    name: str
    n_frames: int
    features: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    split: str = "train"

    def __post_init__(self) -> None:
        for m, x in self.features.items():
            if x.shape[0] != self.n_frames or self.valid[m].shape != (self.n_frames,):
                raise ModelError(
                    f"{self.name}: modality {m!r} has {x.shape[0]} rows, expected {self.n_frames}"
                )
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.float32)
            if self.labels.shape != (self.n_frames, 2):
                raise ModelError(f"{self.name}: labels shape {self.labels.shape}")
            self.labels = np.where(self.labels == -5.0, np.nan, self.labels).astype(np.float32)


@dataclass(frozen=True)
class FeatureSpec:
    """Which modalities a model reads and their dimensions (saved in every checkpoint).

    Attributes
    ----------
    dims : dict of str to int
        Input dimension ``D_m`` of each modality, in :data:`MODALITIES` order.
    columns : dict of str to list of str
        Column names of each modality (checked when a checkpoint is applied).
    feature_sets : dict of str to str
        Feature-store set each modality is read from.
    """

    dims: dict[str, int]
    columns: dict[str, list[str]] = field(default_factory=dict)
    feature_sets: dict[str, str] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names in branch order."""
        return tuple(m for m in MODALITIES if m in self.dims) + tuple(
            m for m in self.dims if m not in MODALITIES
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON/``weights_only``-compatible dict."""
        return {
            "dims": dict(self.dims),
            "columns": {k: list(v) for k, v in self.columns.items()},
            "feature_sets": dict(self.feature_sets),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                dims={k: int(v) for k, v in data["dims"].items()},
                columns={k: list(v) for k, v in data.get("columns", {}).items()},
                feature_sets=dict(data.get("feature_sets", {})),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ModelError(f"invalid feature spec: {exc}") from None


def fit_normalizer(videos: list[VideoData], modalities: tuple[str, ...]) -> Normalizer:
    """Fit a :class:`Normalizer` on the valid frames of ``videos`` (pass training videos only)."""
    blocks = {
        m: [(v.features[m], v.valid[m]) for v in videos if m in v.features] for m in modalities
    }
    return Normalizer.fit(blocks)


class WindowData(torch.utils.data.Dataset):
    """All windows of a list of videos, preloaded into contiguous normalised arrays.

    Parameters
    ----------
    videos : list of VideoData
    spec : FeatureSpec
        Modalities to load (missing ones in a video are all-invalid zeros).
    normalizer : Normalizer
        Fitted on the training split.
    length, stride : int
        Window length and stride (paper: 15 and 10).

    Attributes
    ----------
    x : dict of str to torch.Tensor, each shape (T, D_m), float32
        Normalised features of every video, each padded to ``(W - 1) * stride + length`` rows.
    m : dict of str to torch.Tensor, each shape (T,), float32
        Modality validity (0 on padding).
    frame_mask : torch.Tensor, shape (T,), float32
        1 on real frames, 0 on padding.
    y : torch.Tensor, shape (T, 2), float32
        Labels with NaN replaced by 0; ``y_mask`` (T, 2) is 1 where the label is usable.
    offsets : numpy.ndarray, shape (n_windows,), int64
        Row of ``x`` where each window starts.
    video_of_window : numpy.ndarray, shape (n_windows,), int64
        Index into ``videos`` of each window; windows of a video are contiguous.
    """

    def __init__(
        self,
        videos: list[VideoData],
        spec: FeatureSpec,
        normalizer: Normalizer,
        length: int = 15,
        stride: int = 10,
    ) -> None:
        check_window(length, stride)
        self.videos = videos
        self.spec = spec
        self.length = length
        self.stride = stride
        counts = [n_windows(v.n_frames, length, stride) for v in videos]
        padded = [0 if c == 0 else (c - 1) * stride + length for c in counts]
        starts = np.concatenate([[0], np.cumsum(padded)]).astype(np.int64)
        total = int(starts[-1])
        self.video_rows = starts  # video i occupies rows starts[i]:starts[i+1]
        self.offsets = np.concatenate(
            [starts[i] + np.arange(c, dtype=np.int64) * stride for i, c in enumerate(counts)]
            or [np.zeros(0, np.int64)]
        )
        self.video_of_window = np.repeat(np.arange(len(videos)), counts).astype(np.int64)
        self.window_counts = np.asarray(counts, dtype=np.int64)
        self.x: dict[str, torch.Tensor] = {}
        self.m: dict[str, torch.Tensor] = {}
        for mod in spec.modalities:
            dim = spec.dims[mod]
            x = np.zeros((total, dim), dtype=np.float32)
            m = np.zeros(total, dtype=np.float32)
            for i, v in enumerate(videos):
                if mod not in v.features:
                    continue
                a = starts[i]
                x[a : a + v.n_frames] = normalizer.transform(mod, v.features[mod], v.valid[mod])
                m[a : a + v.n_frames] = v.valid[mod]
            self.x[mod] = torch.from_numpy(x)
            self.m[mod] = torch.from_numpy(m)
        fm = np.zeros(total, dtype=np.float32)
        y = np.zeros((total, 2), dtype=np.float32)
        ym = np.zeros((total, 2), dtype=np.float32)
        for i, v in enumerate(videos):
            a = starts[i]
            fm[a : a + v.n_frames] = 1.0
            if v.labels is not None:
                ok = np.isfinite(v.labels)
                y[a : a + v.n_frames] = np.where(ok, v.labels, 0.0)
                ym[a : a + v.n_frames] = ok
        self.frame_mask = torch.from_numpy(fm)
        self.y = torch.from_numpy(y)
        self.y_mask = torch.from_numpy(ym)
        self._arange = torch.arange(length)

    def __len__(self) -> int:
        return len(self.offsets)

    def batch(self, indices: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Gather windows ``indices`` into a batch.

        Returns
        -------
        dict of str to torch.Tensor
            ``<modality>`` (B, L, D_m), ``<modality>_mask`` (B, L), ``frame_mask`` (B, L),
            ``y`` (B, L, 2), ``y_mask`` (B, L, 2).
        """
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        rows = (torch.from_numpy(self.offsets)[idx][:, None] + self._arange[None, :]).reshape(-1)
        b, n = len(idx), self.length
        out: dict[str, torch.Tensor] = {}
        for mod in self.spec.modalities:
            out[mod] = self.x[mod].index_select(0, rows).view(b, n, -1)
            out[f"{mod}_mask"] = self.m[mod].index_select(0, rows).view(b, n)
        out["frame_mask"] = self.frame_mask.index_select(0, rows).view(b, n)
        out["y"] = self.y.index_select(0, rows).view(b, n, 2)
        out["y_mask"] = self.y_mask.index_select(0, rows).view(b, n, 2)
        return out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.batch([i]).items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Batched fetch used by :class:`torch.utils.data.DataLoader` (one gather per batch)."""
        return self.batch(indices)

    def windows_of(self, video_index: int) -> np.ndarray:
        """Window indices of one video, in time order."""
        a = int(self.window_counts[:video_index].sum())
        return np.arange(a, a + int(self.window_counts[video_index]))

    @property
    def n_label_frames(self) -> int:
        """Frames with at least one usable label."""
        return int((self.y_mask.sum(1) > 0).sum())
