"""Densely connected conv block (Huang et al. 2017, as used by Dense U-Nets): every layer sees the
concatenation of the block input and all earlier layers' outputs; a 1x1 transition returns to the stage width."""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.ops import Layers


class DenseBlock(nn.Module):
    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, num_layers: int, growth: int):
        super().__init__()
        self.dense = nn.ModuleList(
            [layers.conv_norm_act(in_ch + j * growth, growth, kernel) for j in range(num_layers)]
        )
        self.transition = layers.conv_norm_act(in_ch + num_layers * growth, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.dense:
            features.append(layer(torch.cat(features, dim=1)))
        return self.transition(torch.cat(features, dim=1))
