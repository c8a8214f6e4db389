"""Frame-level features + labels of many videos, cut into windows for training.

:class:`VideoData` is the plain per-video record (per-frame features of each modality with a
validity mask, labels with NaN where Aff-Wild2 has -5). Features are either dense arrays or
:class:`FrameRows`: a per-frame *view* of a (memory-mapped) feature-store table, a row index
per frame, so that loading a split costs no copy of the features.

:class:`WindowData` serves batches of windows in one of two ways:

- in RAM (``in_memory=True``): every modality normalised and packed into one contiguous
  float32 array, each video padded to a whole number of windows, so that a batch is a single
  vectorised gather (``rows = offsets[idx, None] + arange(length)``). Memory:
  ``frames x sum(D) x 4 B``.
- memory-mapped (``in_memory=False``): only the per-frame masks and labels are held
  (``~7 x 4 B`` per frame); each batch reads its ``B x length`` rows from the store's
  memmaps (the page cache, not the process, holds the data) and normalises them per batch.
  Both give bit-identical batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vafusion.data.frame_rows import FrameRows
from vafusion.data.normalize import Normalizer
from vafusion.data.windows import check_window, n_windows
from vafusion.errors import ModelError

#: The paper's modalities: the branches of ``fusion-gru`` / ``fusion-bilstm``, in order.
PAPER_MODALITIES = ("audio", "expression", "facepose")
#: Modalities the models know, in branch order (``blendshapes``: a '+'-joined model name).
MODALITIES = ("audio", "expression", "blendshapes", "facepose")

#: Frame rate assumed for videos without timestamps (synthetic data; Aff-Wild2's usual rate).
DEFAULT_FPS = 30.0


@dataclass
class VideoData:
    """Dense per-frame inputs and targets of one video (one annotated subject).

    Attributes
    ----------
    name : str
        Annotation name (video stem, possibly with ``_left`` / ``_right``).
    n_frames : int
        Number of frames ``N`` (the annotation length when labelled).
    features : dict of str to numpy.ndarray or FrameRows, each shape (N, D_m), float32
        Per modality; NaN allowed on invalid rows. :class:`FrameRows` (a per-frame view of
        a memory-mapped store table) avoids holding the features in memory.
    valid : dict of str to numpy.ndarray, each shape (N,), bool
        Per-modality validity (False = no face / no audio on that frame).
    labels : numpy.ndarray, shape (N, 2), float32, optional
        ``(valence, arousal)``; NaN where the annotation is -5; None for unlabelled videos.
    split : str
        ``"train"``, ``"validation"``, ``"test"``...
    video : str
        Feature-store key of the video (file stem); empty when not from a store.
    subject : str
        Face selected in long-form face tables (``main`` / ``left`` / ``right``).
    timestamps : numpy.ndarray, shape (N,), float64, optional
        Seconds of each frame on the video's time axis (used by the output smoothing);
        None: ``frame / DEFAULT_FPS`` (see :attr:`times`).
    """

    name: str
    n_frames: int
    features: dict[str, np.ndarray | FrameRows]
    valid: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    split: str = "train"
    video: str = ""
    subject: str = "main"
    timestamps: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.timestamps is not None:
            self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
            if self.timestamps.shape != (self.n_frames,):
                raise ModelError(f"{self.name}: timestamps shape {self.timestamps.shape}")
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

    @property
    def times(self) -> np.ndarray:
        """Frame times in seconds, shape (N,): :attr:`timestamps` or ``frame / DEFAULT_FPS``."""
        if self.timestamps is not None:
            return self.timestamps
        return np.arange(self.n_frames, dtype=np.float64) / DEFAULT_FPS


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


def _blocks(videos: list[VideoData], mod: str):
    """``(values, valid)`` blocks of one modality; :class:`FrameRows` streamed in chunks."""
    for v in videos:
        if mod not in v.features:
            continue
        x = v.features[mod]
        if isinstance(x, FrameRows):
            yield from x.chunks(v.valid[mod])
        else:
            yield x, v.valid[mod]


def fit_normalizer(videos: list[VideoData], modalities: tuple[str, ...]) -> Normalizer:
    """Fit a :class:`Normalizer` on the valid frames of ``videos`` (pass training videos only).

    Memory-mapped features are read in chunks of 8192 frames, never materialised whole.
    """
    return Normalizer.fit({m: _blocks(videos, m) for m in modalities})


#: Floor of the per-video std (in training-split std units): a feature that barely moves
#: within a video is centred, not blown up to unit variance.
PER_VIDEO_MIN_STD = 0.1


def _video_stats(normalizer: Normalizer, mod: str, v: VideoData) -> tuple[np.ndarray, np.ndarray]:
    """Mean and floored std, shape (D,), of one video's standardised valid frames."""
    view = FrameRows.of(v.features[mod])
    blocks = (
        (normalizer.transform(mod, x, ok), ok) for x, ok in view.chunks(v.valid[mod])
    )  # fmt: skip
    fitted = Normalizer.fit({mod: blocks})
    if mod not in fitted.mean:
        dim = view.shape[1]
        return np.zeros(dim, np.float32), np.ones(dim, np.float32)
    sd = np.maximum(fitted.std[mod], PER_VIDEO_MIN_STD)
    return fitted.mean[mod].astype(np.float32), sd.astype(np.float32)


def _standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` in float32 (broadcast (D,) or (N, D) statistics)."""
    out = np.asarray(x, dtype=np.float32) - mean
    out /= std
    return out


class WindowData(torch.utils.data.Dataset):
    """All windows of a list of videos, served as batches (in RAM or memory-mapped).

    Parameters
    ----------
    videos : list of VideoData
    spec : FeatureSpec
        Modalities to load (missing ones in a video are all-invalid zeros).
    normalizer : Normalizer
        Fitted on the training split.
    length, stride : int
        Window length and stride (paper: 15 and 10).
    per_video : bool, default False
        After the training-split standardisation, standardise each video's features by
        that video's own mean and std over its valid frames (std floored at
        :data:`PER_VIDEO_MIN_STD` in training-split units), removing per-person and
        per-recording offsets; computed from the whole video, so predict applies it too.
    in_memory : bool, default True
        True: normalise and pack every feature into RAM once (fastest gather; memory
        ``frames x sum(D) x 4 B``). False: keep only masks and labels; each batch reads its
        rows through the videos' features (:class:`FrameRows` over the store's memmaps, or
        arrays) and normalises them, so the process's memory does not grow with the
        features. Batches are bit-identical either way.

    Attributes
    ----------
    x : dict of str to torch.Tensor, each shape (T, D_m), float32
        In-RAM mode only (empty otherwise): normalised features of every video, each padded
        to ``(W - 1) * stride + length`` rows.
    m : dict of str to torch.Tensor, each shape (T,), float32
        Modality validity (0 on padding).
    frame_mask : torch.Tensor, shape (T,), float32
        1 on real frames, 0 on padding.
    y : torch.Tensor, shape (T, 2), float32
        Labels with NaN replaced by 0; ``y_mask`` (T, 2) is 1 where the label is usable.
    offsets : numpy.ndarray, shape (n_windows,), int64
        Row of the packed layout where each window starts.
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
        *,
        in_memory: bool = True,
        per_video: bool = False,
    ) -> None:
        check_window(length, stride)
        self.per_video = per_video
        # per-video statistics (per_video only): modality -> (n_videos, D) float32
        self._pv_mean: dict[str, np.ndarray] = {}
        self._pv_std: dict[str, np.ndarray] = {}
        self.videos = videos
        self.spec = spec
        self.normalizer = normalizer
        self.length = length
        self.stride = stride
        self.in_memory = in_memory
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
        # memory-mapped mode, per modality: each video's table rows (None: absent) and, in
        # the packed layout, the table row of every frame (-1: no row / padding)
        self._sources: dict[str, list[np.ndarray | None]] = {}
        self._rows: dict[str, np.ndarray] = {}
        for mod in spec.modalities:
            dim = spec.dims[mod]
            x = np.zeros((total, dim), dtype=np.float32) if in_memory else None
            m = np.zeros(total, dtype=np.float32)
            sources: list[np.ndarray | None] = []
            rows = None if in_memory else np.full(total, -1, dtype=np.int64)
            if per_video:
                self._pv_mean[mod] = np.zeros((len(videos), dim), np.float32)
                self._pv_std[mod] = np.ones((len(videos), dim), np.float32)
            for i, v in enumerate(videos):
                if mod not in v.features:
                    sources.append(None)  # the modality stays invalid (mask 0)
                    continue
                a = starts[i]
                if per_video:
                    mu, sd = _video_stats(normalizer, mod, v)
                    self._pv_mean[mod][i], self._pv_std[mod][i] = mu, sd
                if x is not None:
                    xv = normalizer.transform(mod, v.features[mod], v.valid[mod])
                    if per_video:
                        xv = _standardise(xv, self._pv_mean[mod][i], self._pv_std[mod][i])
                        xv[~np.asarray(v.valid[mod], bool)] = 0.0
                    x[a : a + v.n_frames] = xv
                elif v.features[mod].shape[1] != dim:
                    raise ModelError(
                        f"{v.name}: modality {mod!r} has {v.features[mod].shape[1]} columns, "
                        f"expected {dim}"
                    )
                else:
                    view = FrameRows.of(v.features[mod])
                    sources.append(view.values)
                    rows[a : a + v.n_frames] = view.rows
                m[a : a + v.n_frames] = v.valid[mod]
            if x is not None:
                self.x[mod] = torch.from_numpy(x)
            else:
                self._sources[mod] = sources
                self._rows[mod] = rows
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

    def _gather_mmap(
        self, mod: str, idx: np.ndarray, rows: np.ndarray, valid: torch.Tensor
    ) -> torch.Tensor:
        """Read and normalise the rows of windows ``idx`` of one modality.

        Parameters
        ----------
        idx : numpy.ndarray, shape (B,), int64
            Window indices.
        rows : numpy.ndarray, shape (B * L,), int64
            Their positions in the packed layout.
        valid : torch.Tensor, shape (B, L), float32
            The modality's validity (0 on padding).

        Returns
        -------
        torch.Tensor, shape (B, L, D_m), float32
        """
        b, n, dim = len(idx), self.length, self.spec.dims[mod]
        r = self._rows[mod][rows].reshape(b, n)  # table row of each frame, -1: none
        has = r >= 0
        full = has.all(1)
        raw = np.empty((b, n, dim), dtype=np.float32)
        sources = self._sources[mod]
        for j, vid in enumerate(self.video_of_window[idx]):
            src = sources[vid]
            if src is not None and full[j]:
                raw[j] = src[r[j]]  # one read of <= L rows from the memmap
                continue
            raw[j] = np.nan
            if src is not None and has[j].any():
                raw[j, has[j]] = src[r[j, has[j]]]
        ok = valid.numpy().reshape(-1) > 0
        x = self.normalizer.transform(mod, raw.reshape(b * n, dim), ok)
        if self.per_video:
            vid = np.repeat(self.video_of_window[idx], n)
            x = _standardise(x, self._pv_mean[mod][vid], self._pv_std[mod][vid])
            x[~ok] = 0.0
        return torch.from_numpy(x).view(b, n, dim)

    def batch(self, indices: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Gather windows ``indices`` into a batch.

        Returns
        -------
        dict of str to torch.Tensor
            ``<modality>`` (B, L, D_m), ``<modality>_mask`` (B, L), ``frame_mask`` (B, L),
            ``y`` (B, L, 2), ``y_mask`` (B, L, 2).
        """
        idx_np = np.asarray(indices, dtype=np.int64)
        idx = torch.as_tensor(idx_np)
        rows = (torch.from_numpy(self.offsets)[idx][:, None] + self._arange[None, :]).reshape(-1)
        b, n = len(idx), self.length
        out: dict[str, torch.Tensor] = {}
        for mod in self.spec.modalities:
            out[f"{mod}_mask"] = self.m[mod].index_select(0, rows).view(b, n)
            if self.in_memory:
                out[mod] = self.x[mod].index_select(0, rows).view(b, n, -1)
            else:
                out[mod] = self._gather_mmap(mod, idx_np, rows.numpy(), out[f"{mod}_mask"])
        out["frame_mask"] = self.frame_mask.index_select(0, rows).view(b, n)
        out["y"] = self.y.index_select(0, rows).view(b, n, 2)
        out["y_mask"] = self.y_mask.index_select(0, rows).view(b, n, 2)
        return out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.batch([i]).items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Batched fetch used by :class:`torch.utils.data.DataLoader` (one gather per batch)."""
        return self.batch(indices)

    @property
    def n_label_frames(self) -> int:
        """Frames with at least one usable label."""
        return int((self.y_mask.sum(1) > 0).sum())
