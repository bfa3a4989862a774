"""U^2-Net (Qin et al. 2020): a U-Net of residual U-blocks (RSU), side outputs fused into the prediction.

Outer U: encoder stage i max-pools by strides[i] then applies an RSU to features[i]; decoder stage i upsamples
the coarser decoder output linearly, concatenates the encoder skip and applies an RSU of the same shape.

RSU of stage i follows the plan: with r = num_stages - 1 - i coarser stages left, r >= 2 gives an RSU-(r+2)
whose internal levels use kernel_sizes[i..] and pool by strides[i+1..] (so it reaches the same coarsest grid as
the outer U, like the paper's RSU-7..RSU-4, and respects anisotropic strides/kernels); the last two stages
(r < 2) use the dilated RSU-4F.

Side outputs: a conv (kernel_sizes[i]) to class logits on every decoder stage and on the bottleneck; the fused
output is a 1x1 conv over all side outputs upsampled to full resolution. In training with deep supervision the
outputs are [fused, side 0, side 1, ..., side n-1] with output_scales [1, 1, scale(1), ..., scale(n-1)]: side
outputs are returned at their own resolution (the trainer downsamples targets for them; the paper upsamples
logits instead, which costs full-resolution memory per side). Eval: the fused output.

Options:
- "mid_ratio" (float, default 0.5): RSU inner width = max(1, round(features[i] * mid_ratio)).
"""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.base import SegmentationNetwork
from autoseg.networks.blocks.rsu import ResidualUBlock, rsu_flat_levels, rsu_levels
from autoseg.networks.ops import Layers, stage_scales
from autoseg.networks.options import read_options
from autoseg.networks.registry import register


class U2Net(SegmentationNetwork):
    def __init__(self, spec, mid_ratio: float):
        n = spec.num_stages
        scales = stage_scales(spec.strides)
        super().__init__(spec, [scales[0]] + scales)
        self.layers = layers = Layers.from_spec(spec)
        f = spec.features

        def levels(i):
            if n - 1 - i >= 2:
                return rsu_levels(spec.kernel_sizes[i:], spec.strides[i + 1 :])
            return rsu_flat_levels(spec.kernel_sizes[i])

        def rsu(i, in_ch):
            return ResidualUBlock(layers, in_ch, max(1, round(f[i] * mid_ratio)), f[i], levels(i))

        self.pools = nn.ModuleList([nn.Identity()] + [layers.max_pool(spec.strides[i]) for i in range(1, n)])
        self.encoder = nn.ModuleList([rsu(i, spec.in_channels if i == 0 else f[i - 1]) for i in range(n)])
        self.decoder = nn.ModuleList([rsu(i, f[i] + f[i + 1]) for i in range(n - 1)])
        self.sides = nn.ModuleList([layers.conv(f[i], spec.num_classes, spec.kernel_sizes[i]) for i in range(n)])
        self.fuse = layers.conv(n * spec.num_classes, spec.num_classes, 1)

    def forward_padded(self, x: torch.Tensor, all_outputs: bool) -> list[torch.Tensor]:
        skips = []
        for pool, stage in zip(self.pools, self.encoder):
            x = stage(pool(x))
            skips.append(x)
        features = [None] * len(skips)
        features[-1] = x
        for i in reversed(range(len(self.decoder))):
            x = self.decoder[i](torch.cat([self.layers.resize(x, skips[i].shape[2:]), skips[i]], dim=1))
            features[i] = x
        sides = [side(h) for side, h in zip(self.sides, features)]
        full = sides[0].shape[2:]
        fused = self.fuse(torch.cat([self.layers.resize(s, full) for s in sides], dim=1))
        return [fused, *sides] if all_outputs else [fused]


@register("u2net")
def build_u2net(spec) -> U2Net:
    """U^2-Net (Qin 2020): nested residual U-blocks (RSU-L, dilated RSU-4F), fused side outputs."""
    options = read_options(spec, {"mid_ratio": 0.5})
    return U2Net(spec, float(options["mid_ratio"]))
