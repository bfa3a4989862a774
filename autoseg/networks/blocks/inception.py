"""Inception-residual block (DIU-Net, Zhang et al. 2020; Inception-ResNet, Szegedy et al. 2017).

Three parallel branches on the input -- 1x1; 1x1 -> k; 1x1 -> k -> k (two stacked k convs see as far as one
2k-1 conv) -- concatenated, merged by a 1x1 conv-norm and added to the (projected) input, then activated.
k is the stage's per-axis kernel, so anisotropic stages stay anisotropic.
"""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.ops import Layers


class InceptionResidualBlock(nn.Module):
    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, branch_ch: int):
        super().__init__()
        b = branch_ch
        self.branches = nn.ModuleList(
            [
                layers.conv_norm_act(in_ch, b, 1),
                nn.Sequential(layers.conv_norm_act(in_ch, b, 1), layers.conv_norm_act(b, b, kernel)),
                nn.Sequential(
                    layers.conv_norm_act(in_ch, b, 1),
                    layers.conv_norm_act(b, b, kernel),
                    layers.conv_norm_act(b, b, kernel),
                ),
            ]
        )
        self.merge = layers.conv_norm(3 * b, out_ch, 1)
        self.shortcut = nn.Identity() if in_ch == out_ch else layers.conv_norm(in_ch, out_ch, 1)
        self.act = layers.act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        merged = self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))
        return self.act(merged + self.shortcut(x))
