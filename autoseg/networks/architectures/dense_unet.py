"""Dense U-Net: densely connected blocks in every encoder and decoder stage.

Encoder stage i: a strided conv-norm-act (in -> features[i], stride strides[i]), then a dense block of
blocks_per_stage[i] layers and a 1x1 transition back to features[i]. Decoder stage: transposed-conv
upsampling, concatenation with the skip, a dense block of decoder_blocks layers, transition to features[i].
Options:
- "growth_rate" (int or null, default null): channels each dense layer adds; null means features[i] // 2
  per stage (at least 1), so deep stages grow proportionally.
"""

from __future__ import annotations

from torch import nn

from autoseg.networks.blocks.dense import DenseBlock
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("dense_unet")
def build_dense_unet(spec) -> EncoderDecoderUNet:
    """Dense U-Net: densely connected conv blocks with 1x1 transitions in every stage."""
    growth_option = read_options(spec, {"growth_rate": None})["growth_rate"]
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()

    def growth(i):
        return int(growth_option) if growth_option else max(1, spec.features[i] // 2)

    def encoder_stage(i, in_ch, out_ch):
        k = spec.kernel_sizes[i]
        return nn.Sequential(
            layers.conv_norm_act(in_ch, out_ch, k, spec.strides[i]),
            DenseBlock(layers, out_ch, out_ch, k, blocks[i], growth(i)),
        )

    def decoder_stage(i, in_ch, out_ch):
        return DenseBlock(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks, growth(i))

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage)
