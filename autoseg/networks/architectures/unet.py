"""Plain U-Net, nnU-Net style: the lean default the trainer uses on CPU.

Encoder stage i: blocks_per_stage[i] x (conv -> norm -> activation) at features[i], the first conv strided by
strides[i] (no pooling). Decoder stage: transposed conv upsampling, concatenation with the skip, decoder_blocks
convs. Deep supervision: a 1x1 head per decoder stage. Options: none.
"""

from __future__ import annotations

from autoseg.networks.blocks.conv_stack import ConvStack
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("unet")
def build_unet(spec) -> EncoderDecoderUNet:
    """Plain U-Net (nnU-Net): conv-norm-act stages, strided-conv down, transposed-conv up."""
    read_options(spec, {})
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()

    def encoder_stage(i, in_ch, out_ch):
        return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], blocks[i], spec.strides[i])

    def decoder_stage(i, in_ch, out_ch):
        return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks)

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage)
