"""R2U-Net (Alom et al. 2018): recurrent residual conv blocks in encoder and decoder.

Encoder stage i: max pooling by strides[i] (stage 0: none), then one recurrent residual block with
blocks_per_stage[i] recurrent conv units (the paper: 2); decoder stage: transposed-conv upsampling,
concatenation, one recurrent residual block with decoder_blocks units.
Options:
- "recurrent_steps" (int >= 1, default 2): t, the extra applications of each recurrent conv (t + 1 in all).
"""

from __future__ import annotations

from torch import nn

from autoseg.errors import AutosegError
from autoseg.networks.blocks.recurrent import RecurrentResidualBlock
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("r2unet")
def build_r2unet(spec) -> EncoderDecoderUNet:
    """R2U-Net (Alom 2018): recurrent residual conv units (t steps), max-pool down, transposed-conv up."""
    steps = int(read_options(spec, {"recurrent_steps": 2})["recurrent_steps"])
    if steps < 1:
        raise AutosegError(
            f"r2unet recurrent_steps must be >= 1, got {steps}", fix="set network.options.recurrent_steps to 1 or more"
        )
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()

    def encoder_stage(i, in_ch, out_ch):
        block = RecurrentResidualBlock(layers, in_ch, out_ch, spec.kernel_sizes[i], blocks[i], steps)
        return block if i == 0 else nn.Sequential(layers.max_pool(spec.strides[i]), block)

    def decoder_stage(i, in_ch, out_ch):
        return RecurrentResidualBlock(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks, steps)

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage)
