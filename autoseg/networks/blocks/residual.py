"""Residual basic block (ResNet / nnU-Net ResEnc): two convs plus a shortcut, activation after the sum."""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.ops import Layers, per_axis


class ResidualBlock(nn.Module):
    """conv(stride)-norm-act-conv-norm + shortcut -> act. The shortcut is the identity, or (when the block
    changes size or width) average pooling by the stride followed by a 1x1 conv-norm, as nnU-Net's ResEnc does,
    so no input sample is simply dropped."""

    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, stride=1):
        super().__init__()
        stride = per_axis(stride, layers.spatial_dims)
        self.body = nn.Sequential(
            layers.conv_norm_act(in_ch, out_ch, kernel, stride), layers.conv_norm(out_ch, out_ch, kernel)
        )
        shortcut = []
        if any(s > 1 for s in stride):
            shortcut.append(layers.avg_pool(stride))
        if in_ch != out_ch:
            shortcut.append(layers.conv_norm(in_ch, out_ch, 1))
        self.shortcut = nn.Sequential(*shortcut)
        self.act = layers.act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ResidualStage(nn.Sequential):
    """num_blocks residual blocks, the first one strided (and widening)."""

    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, num_blocks: int, stride=1):
        super().__init__(
            *[
                ResidualBlock(layers, in_ch if i == 0 else out_ch, out_ch, kernel, stride if i == 0 else 1)
                for i in range(num_blocks)
            ]
        )
