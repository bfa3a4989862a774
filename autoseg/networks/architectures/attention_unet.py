"""Attention U-Net (Oktay et al. 2018): the plain U-Net with an additive attention gate on every skip.

The gate of decoder stage i is driven by the coarser decoder signal (the bottleneck for the deepest skip, then
each decoder stage's output) before it is upsampled. Options: none (the gate's inner width is half the skip's).
"""

from __future__ import annotations

from autoseg.networks.blocks.attention_gate import AttentionGate
from autoseg.networks.blocks.conv_stack import ConvStack
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("attention_unet")
def build_attention_unet(spec) -> EncoderDecoderUNet:
    """Attention U-Net (Oktay 2018): additive attention gates on the skips, gated by the coarser decoder."""
    read_options(spec, {})
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()
    f = spec.features

    def encoder_stage(i, in_ch, out_ch):
        return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], blocks[i], spec.strides[i])

    def decoder_stage(i, in_ch, out_ch):
        return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks)

    def skip_gate(i):
        return AttentionGate(layers, f[i], f[i + 1], spec.strides[i + 1])

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage, skip_gate)
