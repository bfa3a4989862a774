"""U-Net++ (Zhou et al. 2018): nested, densely connected skip pathways; deep supervision on the top row.

Node X[i][j] (depth i, column j): X[i][0] is the encoder (plain strided conv stacks); for j >= 1
X[i][j] = convs(concat(X[i][0], ..., X[i][j-1], up(X[i+1][j-1]))) with up a transposed conv from depth i+1.
Outputs: a 1x1 head on each top-row node X[0][1..D], D = num_stages - 1; all are full resolution
(output_scales all ones), listed deepest column first so output 0 is always the full model's prediction.

Pruning: in eval mode the network computes only the nodes X[0][d] needs (i + j <= d) and returns that head.
Options:
- "inference_depth" (int, 1..num_stages-1, default num_stages-1): the column used at inference;
  `model.prune(depth)` changes it after building (weights are kept, so unpruning is `model.prune(None)`).
"""

from __future__ import annotations

import torch
from torch import nn

from autoseg.errors import AutosegError
from autoseg.networks.base import SegmentationNetwork
from autoseg.networks.blocks.conv_stack import ConvStack
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register


class UNetPlusPlus(SegmentationNetwork):
    def __init__(self, spec, inference_depth: int | None):
        depth = spec.num_stages - 1
        super().__init__(spec, [(1,) * spec.spatial_dims] * depth)
        layers = Layers.from_spec(spec)
        f, k, blocks = spec.features, spec.kernel_sizes, spec.encoder_blocks()
        self.depth = depth
        self.encoder = nn.ModuleList(
            [
                ConvStack(layers, spec.in_channels if i == 0 else f[i - 1], f[i], k[i], blocks[i], spec.strides[i])
                for i in range(depth + 1)
            ]
        )
        # nested nodes keyed "i_j" for 1 <= j, i + j <= depth
        self.up = nn.ModuleDict()
        self.nodes = nn.ModuleDict()
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                self.up[f"{i}_{j}"] = layers.transposed_conv(f[i + 1], f[i], spec.strides[i + 1])
                self.nodes[f"{i}_{j}"] = ConvStack(layers, f[i] * (j + 1), f[i], k[i], spec.decoder_blocks)
        self.heads = nn.ModuleList([layers.head(f[0], spec.num_classes) for _ in range(depth)])  # column 1..D
        self.inference_depth = depth
        self.prune(inference_depth)

    def prune(self, depth: int | None) -> "UNetPlusPlus":
        """Use column `depth` (1..num_stages-1) at inference; None restores the full depth."""
        depth = self.depth if depth is None else int(depth)
        if not 1 <= depth <= self.depth:
            raise AutosegError(
                f"U-Net++ inference_depth must be between 1 and {self.depth}, got {depth}",
                fix="set network.options.inference_depth within that range",
            )
        self.inference_depth = depth
        return self

    def forward_padded(self, x: torch.Tensor, all_outputs: bool) -> list[torch.Tensor]:
        depth = self.depth if self.training else self.inference_depth
        grid: list[list[torch.Tensor]] = []
        for i in range(depth + 1):
            x = self.encoder[i](x)
            grid.append([x])
        # column by column so each node's inputs exist; X[i][j] needs X[i][0..j-1] and X[i+1][j-1]
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                key = f"{i}_{j}"
                up = self.up[key](grid[i + 1][j - 1])
                grid[i].append(self.nodes[key](torch.cat([*grid[i], up], dim=1)))
        columns = range(depth, 0, -1) if all_outputs else [depth]
        return [self.heads[j - 1](grid[0][j]) for j in columns]


@register("unet_pp")
def build_unet_pp(spec) -> UNetPlusPlus:
    """U-Net++ (Zhou 2018): nested dense skips, supervised top-row outputs, prunable at inference."""
    options = read_options(spec, {"inference_depth": None})
    return UNetPlusPlus(spec, options["inference_depth"])
