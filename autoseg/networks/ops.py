"""The one place that turns a NetworkSpec's choices into torch layers, for any spatial rank.

Every architecture builds its convolutions, normalisations, activations, dropout, up/down-sampling and
interpolation through `Layers`, so a spec's `norm`, `activation` and `dropout` mean the same thing everywhere
and no block is written twice for 2D and 3D.

Choices:
- norm "instance": InstanceNorm with learnable affine (nnU-Net); "batch": BatchNorm;
  "group": GroupNorm with the largest divisor of the channel count that is <= 8 as the number of groups.
- activation "leaky_relu" (negative slope 1e-2), "relu", "gelu". Leaky ReLU and ReLU run in place: they always
  follow a normalisation or an addition whose output nothing else needs, which saves one activation-sized
  tensor per conv in training memory.
- dropout: channel dropout (Dropout2d/3d) after the convolution, before the normalisation (nnU-Net order).
- Convolutions followed by a normalisation have no bias (the normalisation removes it; it would get no
  gradient); convolutions producing outputs (heads, projections) keep theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from autoseg.errors import AutosegError
from autoseg.networks.instance_norm import InstanceNorm

NORMS = ("instance", "batch", "group")
ACTIVATIONS = ("leaky_relu", "relu", "gelu")
LEAKY_SLOPE = 1e-2
MAX_NORM_GROUPS = 8


def per_axis(value: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """An int or a per-axis sequence as a per-axis tuple of length spatial_dims."""
    if isinstance(value, int):
        return (value,) * spatial_dims
    value = tuple(int(v) for v in value)
    if len(value) != spatial_dims:
        raise ValueError(f"expected {spatial_dims} per-axis values, got {value}")
    return value


def same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """Padding that keeps the size for odd kernels (stride 1)."""
    return tuple((k - 1) // 2 * d for k, d in zip(kernel, dilation))


def _torch_class(prefix: str, spatial_dims: int) -> type[nn.Module]:
    if spatial_dims not in (1, 2, 3):
        raise AutosegError(f"spatial_dims must be 2 or 3, got {spatial_dims}", fix="set network.spatial_dims")
    return getattr(nn, f"{prefix}{spatial_dims}d")


def norm_groups(channels: int) -> int:
    return max(g for g in range(1, min(MAX_NORM_GROUPS, channels) + 1) if channels % g == 0)


@dataclass(frozen=True)
class Layers:
    """Layer factory for one network: spatial rank plus the spec's norm/activation/dropout choices."""

    spatial_dims: int
    norm_kind: str = "instance"
    act_kind: str = "leaky_relu"
    dropout_p: float = 0.0

    @classmethod
    def from_spec(cls, spec) -> "Layers":
        return cls(spec.spatial_dims, spec.norm, spec.activation, float(spec.dropout))

    @property
    def interpolation_mode(self) -> str:
        return {1: "linear", 2: "bilinear", 3: "trilinear"}[self.spatial_dims]

    def conv(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int | Sequence[int] = 1,
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> nn.Module:
        kernel = per_axis(kernel, self.spatial_dims)
        stride = per_axis(stride, self.spatial_dims)
        dilation = per_axis(dilation, self.spatial_dims)
        return _torch_class("Conv", self.spatial_dims)(
            in_ch, out_ch, kernel, stride, same_padding(kernel, dilation), dilation, groups, bias
        )

    def transposed_conv(self, in_ch: int, out_ch: int, stride: int | Sequence[int]) -> nn.Module:
        """Learned upsampling by exactly `stride` per axis (kernel == stride, no overlap)."""
        stride = per_axis(stride, self.spatial_dims)
        return _torch_class("ConvTranspose", self.spatial_dims)(in_ch, out_ch, stride, stride, bias=False)

    def norm(self, channels: int) -> nn.Module:
        if self.norm_kind == "instance":
            return InstanceNorm(channels)
        if self.norm_kind == "batch":
            return _torch_class("BatchNorm", self.spatial_dims)(channels)
        if self.norm_kind == "group":
            return nn.GroupNorm(norm_groups(channels), channels)
        raise AutosegError(f"unknown norm '{self.norm_kind}'", fix=f"use one of {list(NORMS)}")

    def act(self) -> nn.Module:
        if self.act_kind == "leaky_relu":
            return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        if self.act_kind == "relu":
            return nn.ReLU(inplace=True)
        if self.act_kind == "gelu":
            return nn.GELU()
        raise AutosegError(f"unknown activation '{self.act_kind}'", fix=f"use one of {list(ACTIVATIONS)}")

    def dropout(self) -> nn.Module:
        if self.dropout_p <= 0:
            return nn.Identity()
        return _torch_class("Dropout", self.spatial_dims)(self.dropout_p)

    def conv_norm_act(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
    ) -> "ConvNormAct":
        return ConvNormAct(self, in_ch, out_ch, kernel, stride, dilation, with_act=True)

    def conv_norm(
        self, in_ch: int, out_ch: int, kernel: int | Sequence[int] = 1, stride: int | Sequence[int] = 1
    ) -> "ConvNormAct":
        """Convolution and normalisation without activation (before a residual addition)."""
        return ConvNormAct(self, in_ch, out_ch, kernel, stride, 1, with_act=False)

    def max_pool(self, stride: int | Sequence[int]) -> nn.Module:
        stride = per_axis(stride, self.spatial_dims)
        return _torch_class("MaxPool", self.spatial_dims)(stride, stride)

    def avg_pool(self, stride: int | Sequence[int]) -> nn.Module:
        stride = per_axis(stride, self.spatial_dims)
        return _torch_class("AvgPool", self.spatial_dims)(stride, stride)

    def head(self, in_ch: int, num_classes: int) -> nn.Module:
        """1x1 convolution to class logits."""
        return self.conv(in_ch, num_classes, 1, bias=True)

    def resize(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Linear interpolation to an exact spatial size (no-op when it already has it)."""
        if tuple(x.shape[2:]) == tuple(size):
            return x
        if x.is_meta:
            # cost estimation: same shape and (like linear) nothing saved for backward, but linear's meta
            # kernel is a slow Python decomposition (~50 ms a call)
            return F.interpolate(x, size=tuple(size), mode="nearest")
        return F.interpolate(x, size=tuple(size), mode=self.interpolation_mode, align_corners=False)


class ConvNormAct(nn.Sequential):
    """conv -> dropout -> norm -> activation (nnU-Net's order)."""

    def __init__(self, layers: Layers, in_ch: int, out_ch: int, kernel, stride=1, dilation=1, with_act=True):
        parts = [layers.conv(in_ch, out_ch, kernel, stride, dilation, bias=False)]
        if layers.dropout_p > 0:
            parts.append(layers.dropout())
        parts.append(layers.norm(out_ch))
        if with_act:
            parts.append(layers.act())
        super().__init__(*parts)


def batch_norm(spatial_dims: int, channels: int) -> nn.Module:
    """BatchNorm regardless of the spec (for blocks that must fold their normalisation into a conv)."""
    return _torch_class("BatchNorm", spatial_dims)(channels)


def functional_conv(spatial_dims: int):
    """torch.nn.functional.conv1d/2d/3d for the spatial rank."""
    return getattr(F, f"conv{spatial_dims}d")


def kaiming_init(module: nn.Module, activation: str) -> None:
    """He initialisation of every conv / transposed conv / linear weight, zero biases (nnU-Net's InitWeights_He)."""
    slope = LEAKY_SLOPE if activation == "leaky_relu" else 0.0
    for m in module.modules():
        if isinstance(
            m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
        ):
            nn.init.kaiming_normal_(m.weight, a=slope)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def prod(values: Sequence[int]) -> int:
    return math.prod(values)


def stage_scales(strides: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Per stage, the per-axis downsampling factor relative to the input (cumulative product of strides)."""
    scales, current = [], [1] * len(strides[0])
    for stride in strides:
        current = [c * s for c, s in zip(current, stride)]
        scales.append(tuple(current))
    return scales
