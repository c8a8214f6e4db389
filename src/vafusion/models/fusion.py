"""The paper's three-branch sequence-to-sequence fusion network and its variants.

Branches (paper, section I.C), each ending in a 64-d sequence:

- ``audio``: GRU 128 -> PReLU -> dropout 0.25 -> BN, GRU 64 -> PReLU -> dropout 0.25 -> BN.
- ``expression``: GRU 256 -> PReLU -> BN, GRU 256 -> PReLU -> BN, GRU 64 -> PReLU -> BN.
- ``facepose``: Dense 128 -> act -> dropout 0.25 -> BN, Dense 64 -> act -> dropout 0.25 -> BN
  (time-distributed).

Head: concatenation of the branch outputs -> Dense 64 -> act -> BN -> Dense 2 -> tanh, one
``(valence, arousal)`` per frame. The paper states no activation for the Dense layers; a
stack of linear layers would collapse to one linear map, so ``dense_activation`` defaults to
PReLU (set ``"linear"`` for the literal reading).

Missing modalities: each branch input is ``[x * mask, mask]`` (normalised features zeroed
where the modality is invalid, plus the validity as one extra channel), so the network can
tell "no face" from "average face".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vafusion.data.sequences import FeatureSpec
from vafusion.models.layers import (
    DenseLayer,
    RNNLayer,
    SeqBatchNorm,
    SeqDropout,
    StepContext,
    activation,
)


@dataclass(frozen=True)
class ModelConfig:
    """Model settings; defaults are the paper's ``fusion-gru``.

    Attributes
    ----------
    name : str
        Registry name: ``fusion-gru``, ``fusion-bilstm``, ``audio``, ``expression``,
        ``facepose`` or a ``+``-joined set of branches (``audio+expression``).
    rnn : str
        ``"gru"`` or ``"bilstm"``; empty = from the name (``fusion-bilstm`` -> bilstm).
    audio_units, expression_units, facepose_units : tuple of int
        Layer sizes per branch.
    audio_dropout, expression_dropout, facepose_dropout : float
        Dropout after each layer of a branch (paper: 0.25, 0, 0.25).
    head_units : int
        Hidden Dense layer of the head (paper: 64).
    rnn_activation, dense_activation : str
        Activation after recurrent / dense layers.
    mask_inputs : bool
        Append the modality validity mask as an input channel.
    bn_momentum, bn_eps : float
        Batch norm (Keras defaults: 0.99 -> 0.01 here, 1e-3).
    branch_units, tcn_channels, tcn_kernel, tcn_dilations, tcn_dropout
        ``fusion-tcn`` only (:mod:`vafusion.models.tcn`): per-modality projection size,
        channels, kernel and dilations of the residual temporal convolutions (receptive
        field ``1 + (kernel - 1) * sum(dilations)`` frames), their dropout.
    """

    name: str = "fusion-gru"
    rnn: str = ""
    audio_units: tuple[int, ...] = (128, 64)
    expression_units: tuple[int, ...] = (256, 256, 64)
    facepose_units: tuple[int, ...] = (128, 64)
    audio_dropout: float = 0.25
    expression_dropout: float = 0.0
    facepose_dropout: float = 0.25
    head_units: int = 64
    rnn_activation: str = "prelu"
    dense_activation: str = "prelu"
    mask_inputs: bool = True
    bn_momentum: float = 0.01
    bn_eps: float = 1e-3
    branch_units: int = 64
    tcn_channels: int = 64
    tcn_kernel: int = 3
    tcn_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    tcn_dropout: float = 0.1


class Branch(nn.Module):
    """A stack of (recurrent or dense) layer -> activation -> dropout -> BN."""

    def __init__(
        self,
        in_dim: int,
        units: tuple[int, ...],
        kind: str,
        act: str,
        dropout: float,
        ctx: StepContext,
        cfg: ModelConfig,
    ):
        super().__init__()
        self.layers = nn.ModuleList()
        self.acts = nn.ModuleList()
        self.drops = nn.ModuleList()
        self.norms = nn.ModuleList()
        d = in_dim
        for u in units:
            layer = DenseLayer(d, u) if kind == "dense" else RNNLayer(d, u, kind)
            d = layer.out_dim
            self.layers.append(layer)
            self.acts.append(activation(act, d))
            self.drops.append(SeqDropout(dropout, ctx))
            self.norms.append(SeqBatchNorm(d, ctx, cfg.bn_momentum, cfg.bn_eps))
        self.out_dim = d

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, D) -> (B, L, out_dim)."""
        for layer, act, drop, norm in zip(
            self.layers, self.acts, self.drops, self.norms, strict=True
        ):
            h = layer(x, frame_mask) if isinstance(layer, RNNLayer) else layer(x)
            x = norm(drop(act(h)), frame_mask)
        return x


class FusionModel(nn.Module):
    """Sequence-to-sequence valence/arousal model over one or more modality branches.

    Parameters
    ----------
    config : ModelConfig
    spec : FeatureSpec
        Input dimension of each modality (from the data, never hard-coded).
    branches : tuple of str
        Modalities used, in :data:`vafusion.data.sequences.MODALITIES` order.
    rnn : str
        ``"gru"`` or ``"bilstm"``.
    """

    def __init__(self, config: ModelConfig, spec: FeatureSpec, branches: tuple[str, ...], rnn: str):
        super().__init__()
        self.config = config
        self.branch_names = branches
        self.ctx = StepContext()
        extra = 1 if config.mask_inputs else 0
        self.branches = nn.ModuleDict()
        for b in branches:
            in_dim = spec.dims[b] + extra
            if b == "facepose":
                br = Branch(
                    in_dim, config.facepose_units, "dense", config.dense_activation,
                    config.facepose_dropout, self.ctx, config,
                )  # fmt: skip
            else:
                units = config.audio_units if b == "audio" else config.expression_units
                drop = config.audio_dropout if b == "audio" else config.expression_dropout
                if b not in ("audio", "expression"):
                    units, drop = config.expression_units, config.expression_dropout
                br = Branch(in_dim, units, rnn, config.rnn_activation, drop, self.ctx, config)
            self.branches[b] = br
        fused = sum(br.out_dim for br in self.branches.values())
        self.hidden = nn.Linear(fused, config.head_units)
        self.hidden_act = activation(config.dense_activation, config.head_units)
        self.hidden_norm = SeqBatchNorm(
            config.head_units, self.ctx, config.bn_momentum, config.bn_eps
        )
        self.out = nn.Linear(config.head_units, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predict per frame.

        Parameters
        ----------
        batch : dict of str to torch.Tensor
            ``<modality>`` (B, L, D_m), ``<modality>_mask`` (B, L), ``frame_mask`` (B, L).

        Returns
        -------
        torch.Tensor, shape (B, L, 2)
            ``(valence, arousal)`` in (-1, 1).
        """
        fm = batch["frame_mask"]
        outs = []
        for name, br in self.branches.items():
            x = batch[name]
            if self.config.mask_inputs:
                m = batch[f"{name}_mask"].unsqueeze(-1).to(x.dtype)
                x = torch.cat([x * m, m], dim=-1)
            outs.append(br(x, fm))
        h = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
        h = self.hidden_norm(self.hidden_act(self.hidden(h)), fm)
        return torch.tanh(self.out(h))
