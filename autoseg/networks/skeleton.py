"""The encoder-decoder U-Net most architectures share; they differ only in the blocks they plug in.

Stage i of the encoder downsamples by strides[i] (inside its block) to features[i]; decoder stage i upsamples
the coarser result with a transposed conv (kernel = stride = strides[i+1]) to features[i], merges it with the
(optionally gated) skip by concatenation and applies its block. Deep supervision (nnU-Net style): a 1x1 head on
every decoder stage, i.e. one output per stage except the coarsest, highest resolution first.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from autoseg.networks.base import SegmentationNetwork
from autoseg.networks.ops import Layers, stage_scales

# (stage index, input channels, output channels) -> block
StageFactory = Callable[[int, int, int], nn.Module]


class EncoderDecoderUNet(SegmentationNetwork):
    """encoder_stage(i, in, out) must downsample by spec.strides[i]; decoder_stage(i, in, out) keeps the size;
    skip_gate(i) (optional) is a module gate(skip, coarse) -> skip reweighted by the coarser decoder signal."""

    def __init__(
        self,
        spec,
        encoder_stage: StageFactory,
        decoder_stage: StageFactory,
        skip_gate: Callable[[int], nn.Module] | None = None,
        first_head_stage: int = 0,
    ):
        n = spec.num_stages
        super().__init__(spec, stage_scales(spec.strides)[: n - 1])
        self.layers = layers = Layers.from_spec(spec)
        f = spec.features
        self.encoder = nn.ModuleList(
            [encoder_stage(i, spec.in_channels if i == 0 else f[i - 1], f[i]) for i in range(n)]
        )
        self.upsample = nn.ModuleList(
            [layers.transposed_conv(f[i + 1], f[i], spec.strides[i + 1]) for i in range(n - 1)]
        )
        self.decoder = nn.ModuleList([decoder_stage(i, 2 * f[i], f[i]) for i in range(n - 1)])
        self.skip_gates = nn.ModuleList([skip_gate(i) for i in range(n - 1)]) if skip_gate else None
        self.first_head_stage = first_head_stage
        self.heads = nn.ModuleList([layers.head(f[i], spec.num_classes) for i in range(first_head_stage, n - 1)])

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        return features

    def decode(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        """Decoder outputs indexed by stage (0 = full resolution), for stages 0..n-2."""
        x = skips[-1]
        decoded: list[torch.Tensor] = [None] * (len(skips) - 1)  # type: ignore[list-item]
        for i in reversed(range(len(skips) - 1)):
            skip = skips[i] if self.skip_gates is None else self.skip_gates[i](skips[i], x)
            x = self.decoder[i](torch.cat([self.upsample[i](x), skip], dim=1))
            decoded[i] = x
        return decoded

    def head(self, stage: int, features: torch.Tensor) -> torch.Tensor:
        return self.heads[stage - self.first_head_stage](features)

    def forward_padded(self, x: torch.Tensor, all_outputs: bool) -> list[torch.Tensor]:
        decoded = self.decode(self.encode(x))
        stages = range(len(decoded)) if all_outputs else range(1)
        return [self.head(i, decoded[i]) for i in stages]
