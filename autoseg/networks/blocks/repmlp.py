"""RepMLP (Ding et al. 2021, "RepMLP: Re-parameterizing Convolutions into Fully-connected Layers").

RepMLPUnit, training form: the feature map is cut into partitions of `partition` voxels per axis; on every
partition a grouped fully connected layer (groups of channels, each mixing all channels x positions of its
group) runs in parallel with conv branches (grouped the same way, each conv followed by BatchNorm); the sum is
the output. Inference form (`reparameterize()`): each conv+BN is a linear map on the partition too, so it is
folded into the FC weights: one grouped FC per partition, exactly equivalent in eval mode.

Conv branches use BatchNorm whatever the spec's norm is: only a normalisation with fixed (running)
statistics can be folded into a linear operator.

The paper's global perceptron (a pooled, input-dependent per-partition scaling) is left out: it is not part of
the re-parameterised operator and would keep a second branch alive at inference.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from autoseg.networks.base import crop_to, pad_to_multiple
from autoseg.networks.ops import Layers, batch_norm, functional_conv, same_padding


def to_partitions(x: torch.Tensor, partition: Sequence[int]) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(N, C, n1*p1, n2*p2, ...) -> (N*n1*n2*..., C, p1, p2, ...), plus the grid (n1, n2, ...)."""
    n, c, *size = x.shape
    grid = tuple(s // p for s, p in zip(size, partition))
    d = len(partition)
    split = [n, c] + [v for pair in zip(grid, partition) for v in pair]
    # axes of `split`: 0 N, 1 C, then (grid_i, part_i) at 2 + 2i, 3 + 2i
    order = [0] + [2 + 2 * i for i in range(d)] + [1] + [3 + 2 * i for i in range(d)]
    parts = x.reshape(split).permute(order).reshape(n * math.prod(grid), c, *partition)
    return parts, grid


def from_partitions(parts: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """Inverse of to_partitions."""
    b, c, *partition = parts.shape
    d = len(grid)
    n = b // math.prod(grid)
    x = parts.reshape([n, *grid, c, *partition])
    # axes: 0 N, 1..d grid, d+1 C, d+2.. partition -> N, C, (grid_i, part_i)...
    order = [0, d + 1] + [v for i in range(d) for v in (1 + i, d + 2 + i)]
    return x.permute(order).reshape(n, c, *[g * p for g, p in zip(grid, partition)])


class RepMLPUnit(nn.Module):
    def __init__(
        self,
        layers: Layers,
        channels: int,
        partition: Sequence[int],
        groups: int,
        conv_kernels: Sequence[Sequence[int]],
    ):
        super().__init__()
        if channels % groups:
            raise ValueError(f"RepMLP channels {channels} must be divisible by groups {groups}")
        self.spatial_dims = layers.spatial_dims
        self.partition = tuple(int(p) for p in partition)
        self.groups = groups
        self.group_dim = channels // groups * math.prod(self.partition)
        self.fc_weight = nn.Parameter(torch.empty(groups, self.group_dim, self.group_dim))  # (group, out, in)
        self.fc_bias = nn.Parameter(torch.zeros(groups, self.group_dim))
        self.branches = nn.ModuleList(
            [
                nn.Sequential(
                    layers.conv(channels, channels, k, groups=groups, bias=False),
                    batch_norm(layers.spatial_dims, channels),
                )
                for k in conv_kernels
            ]
        )
        self.reset_special_parameters()

    def reset_special_parameters(self) -> None:
        nn.init.normal_(self.fc_weight, std=self.group_dim**-0.5)
        nn.init.zeros_(self.fc_bias)

    @property
    def fused(self) -> bool:
        return len(self.branches) == 0

    def fc(self, parts: torch.Tensor) -> torch.Tensor:
        b = parts.shape[0]
        grouped = parts.reshape(b, self.groups, self.group_dim).transpose(0, 1)  # (G, B, D)
        out = torch.baddbmm(self.fc_bias.unsqueeze(1), grouped, self.fc_weight.transpose(1, 2))
        return out.transpose(0, 1).reshape(parts.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        parts, grid = to_partitions(pad_to_multiple(x, self.partition), self.partition)
        out = self.fc(parts)
        for branch in self.branches:
            out = out + branch(parts)
        return crop_to(from_partitions(out, grid), size)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold every conv+BN branch into the FC (in place; exact for eval-mode BatchNorm statistics)."""
        if self.fused:
            return
        weight, bias = self.fc_weight.detach().clone(), self.fc_bias.detach().clone()
        per_group = self.group_dim // math.prod(self.partition)
        for conv, bn in self.branches:
            kernel, conv_bias = fuse_conv_bn(conv.weight, bn)
            weight += self.conv_as_fc(kernel, conv.dilation)
            # a per-channel bias becomes the same value at every position of the channel's partition
            bias += (
                conv_bias.reshape(self.groups, per_group, 1)
                .expand(-1, -1, math.prod(self.partition))
                .reshape(self.groups, self.group_dim)
            )
        self.fc_weight.copy_(weight)
        self.fc_bias.copy_(bias)
        self.branches = nn.ModuleList()

    def conv_as_fc(self, kernel: torch.Tensor, dilation: Sequence[int]) -> torch.Tensor:
        """The grouped conv (zero-padded inside one partition) as FC weights (G, D_out, D_in): run it on the
        identity basis of one group's inputs, repeated for all groups."""
        d = self.group_dim
        per_group = d // math.prod(self.partition)
        basis = torch.eye(d, dtype=kernel.dtype, device=kernel.device).reshape(d, per_group, *self.partition)
        basis = basis.repeat(1, self.groups, *([1] * self.spatial_dims))
        response = functional_conv(self.spatial_dims)(
            basis, kernel, padding=same_padding(kernel.shape[2:], dilation), dilation=dilation, groups=self.groups
        )
        # response[i, g * per_group + c, pos] = output (c, pos) of group g for input basis vector i
        return response.reshape(d, self.groups, d).permute(1, 2, 0)


def fuse_conv_bn(kernel: torch.Tensor, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """A bias-free conv followed by eval-mode BatchNorm as one conv: (kernel, bias)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return kernel * scale.reshape(-1, *([1] * (kernel.dim() - 1))), bn.bias - bn.running_mean * scale


class RepMLPBlock(nn.Module):
    """Residual bottleneck around a RepMLP unit: 1x1 conv-norm-act down to `inner` channels, the unit, the
    activation, 1x1 conv-norm back up, plus the input, then the activation. (The activation right after the
    unit matters: a per-channel offset followed only by linear maps and a norm would be removed by the norm.)"""

    def __init__(
        self,
        layers: Layers,
        channels: int,
        inner: int,
        partition: Sequence[int],
        groups: int,
        conv_kernels: Sequence[Sequence[int]],
    ):
        super().__init__()
        self.reduce = layers.conv_norm_act(channels, inner, 1)
        self.mlp = RepMLPUnit(layers, inner, partition, groups, conv_kernels)
        self.mlp_act = layers.act()
        self.expand = layers.conv_norm(inner, channels, 1)
        self.act = layers.act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.expand(self.mlp_act(self.mlp(self.reduce(x)))))
