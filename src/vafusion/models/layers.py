"""Sequence layers shared by the models: masked (and optionally synchronised) batch norm and
a dropout whose masks can be drawn for a whole *global* batch.

Both exist so that a DistributedDataParallel run computes exactly what one process computes
on the same global batch: batch statistics are summed across processes
(:func:`all_reduce_sum`, differentiable) and every process
draws the dropout masks of the whole global batch from the same generator and keeps its
own rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum all-reduce: the gradient of a sum over processes is the sum of the
    processes' gradients (what the deprecated ``torch.distributed.nn.all_reduce`` did)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: object) -> torch.Tensor:  # type: ignore[override]
        import torch.distributed as dist

        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return _AllReduceSum.apply(grad, ctx.group), None


def all_reduce_sum(tensor: torch.Tensor, group: object | None) -> torch.Tensor:
    """Sum ``tensor`` over the processes of ``group`` (identity when ``group`` is None)."""
    return tensor if group is None else _AllReduceSum.apply(tensor, group)


@dataclass
class StepContext:
    """Per-step state shared by the layers of one model (set by the trainer).

    Attributes
    ----------
    seed : int or None
        Dropout seed of the step, identical on every process; each dropout layer draws
        from its own generator seeded by ``(seed, layer id)``, so a layer's masks do not
        depend on the batch size drawn by the layers before it.
    rows : torch.Tensor or None, shape (B_local,), int64
        Positions of this process's windows in the global batch.
    global_batch : int
        Size of the global batch.
    group : object or None
        torch.distributed process group for batch-norm statistics (None: local only).
    """

    seed: int | None = None
    rows: torch.Tensor | None = None
    global_batch: int = 0
    group: object | None = None
    n_dropout: int = 0

    def next_dropout_id(self) -> int:
        """A new dropout layer id (construction order)."""
        self.n_dropout += 1
        return self.n_dropout


class SeqBatchNorm(nn.Module):
    """Batch normalisation over (batch, time) of ``(B, L, C)`` sequences, ignoring padding.

    Training statistics use only frames with ``mask == 1`` and, when a process group is set
    in the :class:`StepContext`, are summed over all processes. Running statistics follow
    Keras' defaults (momentum 0.99, i.e. ``momentum=0.01`` here; ``eps=1e-3``).
    """

    def __init__(self, channels: int, ctx: StepContext, momentum: float = 0.01, eps: float = 1e-3):
        super().__init__()
        self.ctx = ctx
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, C), ``mask`` (B, L) -> (B, L, C)."""
        if self.training:
            m = mask.unsqueeze(-1).to(x.dtype)
            xm = x * m
            sums = torch.cat([m.sum((0, 1)), xm.sum((0, 1)), (xm * x).sum((0, 1))])
            sums = all_reduce_sum(sums, self.ctx.group)
            n = sums[0].clamp_min(1.0)
            c = x.shape[-1]
            mean = sums[1 : 1 + c] / n
            var = (sums[1 + c :] / n - mean * mean).clamp_min(0.0)
            with torch.no_grad():
                unbiased = var * (n / (n - 1.0).clamp_min(1.0))
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class SeqDropout(nn.Module):
    """Inverted dropout; with a :class:`StepContext` seed the masks are drawn for the
    whole global batch ``(G, L, C)`` and this process keeps rows ``ctx.rows``."""

    def __init__(self, p: float, ctx: StepContext):
        super().__init__()
        self.p = p
        self.ctx = ctx
        self.layer_id = ctx.next_dropout_id()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, C) -> (B, L, C)."""
        if not self.training or self.p <= 0.0:
            return x
        ctx = self.ctx
        if ctx.seed is None or ctx.rows is None:
            return F.dropout(x, self.p, training=True)
        gen = torch.Generator().manual_seed((ctx.seed * 1009 + self.layer_id) % (2**63 - 1))
        shape = (ctx.global_batch, *x.shape[1:])
        keep = torch.rand(shape, generator=gen)[ctx.rows] >= self.p
        return x * keep.to(device=x.device, dtype=x.dtype) / (1.0 - self.p)


class RNNLayer(nn.Module):
    """One recurrent layer: GRU, or bidirectional LSTM (output ``2 * units``).

    Padding is only ever at the *end* of a window (the last window of a video), so a
    unidirectional GRU never sees it before a real frame. The backward direction of a
    BiLSTM would start on the padding, so for ``bilstm`` windows with padding are packed
    (:func:`torch.nn.utils.rnn.pack_padded_sequence`) with their real lengths: the
    backward pass starts at each window's last real frame and outputs on real frames do not
    depend on what the padded positions contain (their outputs are 0).
    """

    def __init__(self, in_dim: int, units: int, kind: str):
        super().__init__()
        self.bidirectional = kind == "bilstm"
        if kind == "gru":
            self.rnn: nn.Module = nn.GRU(in_dim, units, batch_first=True)
            self.out_dim = units
        elif kind == "bilstm":
            self.rnn = nn.LSTM(in_dim, units, batch_first=True, bidirectional=True)
            self.out_dim = 2 * units
        else:
            raise ValueError(f"unknown recurrent layer {kind!r}")

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the layer over ``x``.

        Parameters
        ----------
        x : torch.Tensor, shape (B, L, D)
        frame_mask : torch.Tensor, shape (B, L), optional
            1 on real frames, 0 on padding; real frames must form a prefix of each window
            (as :class:`~vafusion.data.sequences.WindowData` builds them). Used only by
            the bidirectional layer.

        Returns
        -------
        torch.Tensor, shape (B, L, out_dim)
        """
        if not self.bidirectional or frame_mask is None:
            return self.rnn(x)[0]
        lengths = frame_mask.detach().sum(1).round().to(torch.int64).cpu()
        length = x.shape[1]
        if bool((lengths >= length).all()):
            return self.rnn(x)[0]  # no padding in this batch: no packing cost
        # rows without any real frame (DDP padding duplicates) are fully masked
        # downstream; pack them with length 1 since packing refuses empty sequences
        lengths = lengths.clamp(1, length)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.rnn(packed)
        return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)[0]


class DenseLayer(nn.Module):
    """Time-distributed dense layer (a Linear on the last axis)."""

    def __init__(self, in_dim: int, units: int):
        super().__init__()
        self.fc = nn.Linear(in_dim, units)
        self.out_dim = units

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, D) -> (B, L, units)."""
        return self.fc(x)


class LastAxisPReLU(nn.Module):
    """PReLU with one learnable slope per channel of the *last* axis (``(B, L, C)`` input)."""

    def __init__(self, channels: int, init: float = 0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., C) -> (..., C)."""
        return torch.where(x >= 0, x, x * self.weight)


def activation(name: str, channels: int) -> nn.Module:
    """``"prelu"`` (per-channel), ``"relu"``, ``"tanh"`` or ``"linear"``."""
    if name == "prelu":
        return LastAxisPReLU(channels)
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    if name == "linear":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")
