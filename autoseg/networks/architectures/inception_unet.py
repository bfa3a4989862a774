"""Inception U-Net (DIU-Net style): inception-residual blocks in every stage.

Encoder stage i: max pooling by strides[i] (stage 0: none) then blocks_per_stage[i] inception-residual blocks;
decoder stage: transposed-conv upsampling, concatenation, decoder_blocks inception-residual blocks.
Options:
- "branch_ratio" (float, default 0.5): width of each of the three branches = max(1, round(features[i] * ratio)).
"""

from __future__ import annotations

from torch import nn

from autoseg.networks.blocks.inception import InceptionResidualBlock
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("inception_unet")
def build_inception_unet(spec) -> EncoderDecoderUNet:
    """Inception U-Net (DIU-Net): inception-residual blocks (parallel 1, k, k-k branches)."""
    ratio = float(read_options(spec, {"branch_ratio": 0.5})["branch_ratio"])
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()

    def stack(i, in_ch, out_ch, count):
        b = max(1, round(spec.features[i] * ratio))
        return [
            InceptionResidualBlock(layers, in_ch if j == 0 else out_ch, out_ch, spec.kernel_sizes[i], b)
            for j in range(count)
        ]

    def encoder_stage(i, in_ch, out_ch):
        pool = [layers.max_pool(spec.strides[i])] if i > 0 else []
        return nn.Sequential(*pool, *stack(i, in_ch, out_ch, blocks[i]))

    def decoder_stage(i, in_ch, out_ch):
        return nn.Sequential(*stack(i, in_ch, out_ch, spec.decoder_blocks))

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage)
