"""``fusion-tcn``: a long-context fusion model (dilated temporal convolutions).

Each modality is projected per frame (Dense -> act -> BN, like the paper's facepose branch;
input ``[x * mask, mask]``), the projections are concatenated and mixed to
``tcn_channels``, and a stack of residual dilated temporal convolutions runs over the
window: kernel ``k`` with dilations ``d_1..d_n`` sees ``1 + (k - 1) * sum(d)`` frames,
centred on each frame (non-causal: offline prediction). With the defaults (kernel 3,
dilations 1..32) that is 127 frames, about 4 s at 30 fps, the context ABAW's best
valence-arousal systems use, against the paper's 15-frame windows. A Dense head gives
``(valence, arousal)`` per frame through tanh.

Padding frames (the end of a video's last window) are zeroed before every convolution, so
the outputs on real frames never depend on what the padding holds. Batch norm and dropout
are the masked, DDP-exact layers of :mod:`vafusion.models.layers`.
"""

from __future__ import annotations

import torch
from torch import nn

from vafusion.data.sequences import FeatureSpec
from vafusion.errors import ConfigError
from vafusion.models.fusion import ModelConfig
from vafusion.models.layers import SeqBatchNorm, SeqDropout, StepContext, activation


class TemporalBlock(nn.Module):
    """``x + BN(dropout(act(conv_dilated(x))))`` over ``(B, L, C)`` with padding zeroed."""

    def __init__(self, channels: int, kernel: int, dilation: int, cfg: ModelConfig, ctx):
        super().__init__()
        if kernel % 2 == 0 or kernel < 1:
            raise ConfigError(f"model.tcn_kernel must be odd and >= 1, got {kernel}")
        self.conv = nn.Conv1d(
            channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2
        )
        self.act = activation(cfg.dense_activation, channels)
        self.drop = SeqDropout(cfg.tcn_dropout, ctx)
        self.norm = SeqBatchNorm(channels, ctx, cfg.bn_momentum, cfg.bn_eps)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, C), ``frame_mask`` (B, L) -> (B, L, C)."""
        h = (x * frame_mask.unsqueeze(-1)).transpose(1, 2)
        h = self.conv(h).transpose(1, 2)
        return x + self.norm(self.drop(self.act(h)), frame_mask)


class TCNFusion(nn.Module):
    """Per-frame modality projections -> residual dilated convolutions -> per-frame head.

    Parameters
    ----------
    config : ModelConfig
        Uses ``branch_units``, ``tcn_channels``, ``tcn_kernel``, ``tcn_dilations``,
        ``tcn_dropout``, ``head_units``, ``dense_activation``, ``mask_inputs``, batch norm.
    spec : FeatureSpec
    branches : tuple of str
        Modalities read.
    """

    def __init__(self, config: ModelConfig, spec: FeatureSpec, branches: tuple[str, ...]):
        super().__init__()
        self.config = config
        self.branch_names = branches
        self.ctx = StepContext()
        extra = 1 if config.mask_inputs else 0
        u, c = config.branch_units, config.tcn_channels
        self.proj = nn.ModuleDict({b: nn.Linear(spec.dims[b] + extra, u) for b in branches})
        self.proj_act = nn.ModuleDict({b: activation(config.dense_activation, u) for b in branches})
        self.proj_norm = nn.ModuleDict(
            {b: SeqBatchNorm(u, self.ctx, config.bn_momentum, config.bn_eps) for b in branches}
        )
        self.mix = nn.Linear(u * len(branches), c)
        self.blocks = nn.ModuleList(
            TemporalBlock(c, config.tcn_kernel, d, config, self.ctx) for d in config.tcn_dilations
        )
        self.hidden = nn.Linear(c, config.head_units)
        self.hidden_act = activation(config.dense_activation, config.head_units)
        self.hidden_norm = SeqBatchNorm(
            config.head_units, self.ctx, config.bn_momentum, config.bn_eps
        )
        self.out = nn.Linear(config.head_units, 2)

    @property
    def receptive_field(self) -> int:
        """Frames each output sees: ``1 + (kernel - 1) * sum(dilations)``."""
        return 1 + (self.config.tcn_kernel - 1) * sum(self.config.tcn_dilations)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch`` as for :class:`~vafusion.models.fusion.FusionModel` -> (B, L, 2)."""
        fm = batch["frame_mask"]
        outs = []
        for b in self.branch_names:
            x = batch[b]
            if self.config.mask_inputs:
                m = batch[f"{b}_mask"].unsqueeze(-1).to(x.dtype)
                x = torch.cat([x * m, m], dim=-1)
            outs.append(self.proj_norm[b](self.proj_act[b](self.proj[b](x)), fm))
        h = self.mix(torch.cat(outs, dim=-1))
        for block in self.blocks:
            h = block(h, fm)
        h = self.hidden_norm(self.hidden_act(self.hidden(h)), fm)
        return torch.tanh(self.out(h))
