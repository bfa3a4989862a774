"""Convolutional GRU cell (Ballas et al. 2016): a GRU whose gates are convolutions, so its state is a map."""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.ops import Layers


class ConvGRUCell(nn.Module):
    """z, r = sigmoid(conv([x, h])); n = tanh(conv([x, r * h])); h' = (1 - z) * h + z * n. A missing state
    (first step) is zeros, for which the update reduces to z * n."""

    def __init__(self, layers: Layers, in_ch: int, hidden_ch: int, kernel):
        super().__init__()
        self.gates = layers.conv(in_ch + hidden_ch, 2 * hidden_ch, kernel, bias=True)
        self.candidate = layers.conv(in_ch + hidden_ch, hidden_ch, kernel, bias=True)
        self.hidden_ch = hidden_ch

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        if h is None:
            h = x.new_zeros((x.shape[0], self.hidden_ch, *x.shape[2:]))
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).chunk(2, dim=1)
        n = torch.tanh(self.candidate(torch.cat([x, r * h], dim=1)))
        return h + z * (n - h)
