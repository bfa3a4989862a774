"""Additive attention gate (Oktay et al. 2018, "Attention U-Net"): reweights a skip connection voxel-wise by
how well it agrees with the coarser decoder signal."""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.ops import Layers


class AttentionGate(nn.Module):
    """alpha = sigmoid(psi(act(W_x skip + W_g gate))), computed at the gate's (coarser) resolution, upsampled
    linearly to the skip's size; output = W(alpha * skip) (1x1 conv + norm, as in the paper's code).

    W_x is a conv with kernel = stride = the stride between the two resolutions, so both terms meet on the
    coarse grid (the paper's choice, cheaper than upsampling the gate)."""

    def __init__(self, layers: Layers, skip_ch: int, gate_ch: int, stride, inter_ch: int | None = None):
        super().__init__()
        inter_ch = inter_ch or max(1, skip_ch // 2)
        self.layers = layers
        self.theta_skip = layers.conv(skip_ch, inter_ch, kernel=stride, stride=stride, bias=False)
        self.phi_gate = layers.conv(gate_ch, inter_ch, kernel=1, bias=True)
        self.act = layers.act()
        self.psi = layers.conv(inter_ch, 1, kernel=1, bias=True)
        self.output = layers.conv_norm(skip_ch, skip_ch, 1)

    def attention(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """The attention coefficients in [0, 1], one per skip voxel: (N, 1, *skip spatial)."""
        joint = self.act(self.theta_skip(skip) + self.phi_gate(gate))
        return self.layers.resize(torch.sigmoid(self.psi(joint)), skip.shape[2:])

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return self.output(skip * self.attention(skip, gate))
