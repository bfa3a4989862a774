"""The plain U-Net stage: n x (conv -> norm -> activation), the first conv optionally strided."""

from __future__ import annotations

from torch import nn

from autoseg.networks.ops import Layers


class ConvStack(nn.Sequential):
    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, num_convs: int, stride=1):
        convs = [
            layers.conv_norm_act(in_ch if i == 0 else out_ch, out_ch, kernel, stride if i == 0 else 1)
            for i in range(num_convs)
        ]
        super().__init__(*convs)
