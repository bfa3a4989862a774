"""Recurrent residual convolution (Alom et al. 2018, "R2U-Net").

A recurrent conv layer (RCL) applies one shared conv-norm-act t + 1 times, each time to the block input plus
its previous state: h0 = f(x), h_k = f(x + h_{k-1}); a recurrent residual block (RRCNN) is a 1x1 projection,
a chain of RCLs, and a residual sum with the projection.
"""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.ops import Layers


class RecurrentConv(nn.Module):
    def __init__(self, layers: Layers, channels: int, kernel, steps: int):
        super().__init__()
        self.step = layers.conv_norm_act(channels, channels, kernel)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.step(x)
        for _ in range(self.steps):
            h = self.step(x + h)
        return h


class RecurrentResidualBlock(nn.Module):
    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, num_units: int, steps: int):
        super().__init__()
        self.project = layers.conv(in_ch, out_ch, 1, bias=True)
        self.units = nn.Sequential(*[RecurrentConv(layers, out_ch, kernel, steps) for _ in range(num_units)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        return x + self.units(x)
