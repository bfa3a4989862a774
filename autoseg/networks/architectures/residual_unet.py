"""Residual-encoder U-Net (nnU-Net ResEnc style).

Stage 0 starts with a stem conv-norm-act (in_channels -> features[0]); every encoder stage is
blocks_per_stage[i] residual blocks, the first strided by strides[i] (nnU-Net's ResEnc presets use e.g.
[1, 3, 4, 6, 6, 6]). The decoder is the plain U-Net's (decoder_blocks conv-norm-act per stage).
Options: none.
"""

from __future__ import annotations

from torch import nn

from autoseg.networks.blocks.conv_stack import ConvStack
from autoseg.networks.blocks.residual import ResidualStage
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("residual_unet")
def build_residual_unet(spec) -> EncoderDecoderUNet:
    """Residual-encoder U-Net (ResEnc): residual blocks in the encoder, plain decoder."""
    read_options(spec, {})
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()

    def encoder_stage(i, in_ch, out_ch):
        stage = ResidualStage(
            layers, out_ch if i == 0 else in_ch, out_ch, spec.kernel_sizes[i], blocks[i], spec.strides[i]
        )
        if i == 0:
            return nn.Sequential(layers.conv_norm_act(in_ch, out_ch, spec.kernel_sizes[0]), stage)
        return stage

    def decoder_stage(i, in_ch, out_ch):
        return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks)

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage)
