"""Residual U-block (RSU, Qin et al. 2020 "U^2-Net"): a small U-Net inside one block, plus a residual.

in -> conv(out) = h; a U of mid-width levels on h; the U's last decoder conv returns to out; result + h.

The levels are given explicitly so one class covers both of the paper's kinds and the plan's anisotropy:
- RSU-L: levels at successively coarser resolutions (max pooling by the plan's strides between them) and a
  dilated (x2) bottom level at the coarsest one;
- RSU-4F: four levels at one resolution with dilations 1, 2, 4, 8 (for low-resolution stages, where pooling
  further would lose everything).
Dilation is applied only along axes whose kernel is > 1, so a [1, 3, 3] level stays in-plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from autoseg.networks.ops import Layers


@dataclass(frozen=True)
class RSULevel:
    kernel: tuple[int, ...]
    dilation: int = 1
    pool: tuple[int, ...] | None = None  # max-pool stride applied before this level (None: same resolution)


def rsu_levels(kernels: Sequence[Sequence[int]], strides: Sequence[Sequence[int]]) -> list[RSULevel]:
    """RSU-L from the plan: level 0 at the block's resolution with kernels[0], level j pooled by strides[j-1]
    with kernels[j], then a dilated bottom level on the coarsest grid (L = len(kernels) + 1)."""
    levels = [RSULevel(tuple(kernels[0]))]
    levels += [RSULevel(tuple(k), 1, tuple(s)) for k, s in zip(kernels[1:], strides)]
    levels.append(RSULevel(tuple(kernels[-1]), 2))
    return levels


def rsu_flat_levels(kernel: Sequence[int]) -> list[RSULevel]:
    """RSU-4F: four same-resolution levels with dilations 1, 2, 4, 8."""
    return [RSULevel(tuple(kernel), d) for d in (1, 2, 4, 8)]


def _dilation(level: RSULevel) -> tuple[int, ...]:
    return tuple(level.dilation if k > 1 else 1 for k in level.kernel)


class ResidualUBlock(nn.Module):
    def __init__(self, layers: Layers, in_ch: int, mid_ch: int, out_ch: int, levels: Sequence[RSULevel]):
        super().__init__()
        self.layers = layers
        self.levels = list(levels)
        self.stem = layers.conv_norm_act(in_ch, out_ch, self.levels[0].kernel)
        self.pools = nn.ModuleList([layers.max_pool(lv.pool) if lv.pool else nn.Identity() for lv in self.levels])
        self.encoder = nn.ModuleList(
            [
                layers.conv_norm_act(out_ch if j == 0 else mid_ch, mid_ch, lv.kernel, dilation=_dilation(lv))
                for j, lv in enumerate(self.levels)
            ]
        )
        # decoder level j merges the result from level j+1 with encoder level j
        last = len(self.levels) - 1
        self.decoder = nn.ModuleList(
            [
                layers.conv_norm_act(2 * mid_ch, out_ch if j == 0 else mid_ch, lv.kernel, dilation=_dilation(lv))
                for j, lv in enumerate(self.levels[:last])
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        skips, h = [], stem
        for pool, conv in zip(self.pools, self.encoder):
            h = conv(pool(h))
            skips.append(h)
        h = skips.pop()
        for j in reversed(range(len(self.decoder))):
            skip = skips[j]
            h = self.decoder[j](torch.cat([self.layers.resize(h, skip.shape[2:]), skip], dim=1))
        return h + stem
