"""GRU-gated U-Net (GRUU-Net style, Wollmann et al. 2019): a convolutional GRU carries a full-resolution state
that fuses the decoder's features of every scale, coarse to fine.

The encoder/decoder is the plain U-Net's. For each decoder stage from the coarsest (n-2) to the finest (0),
its output is projected (1x1 conv) to the GRU width, upsampled linearly to full resolution and fed as one GRU
step; the final state goes through a 1x1 head -- the main output. Deep supervision: [GRU output, heads on
decoder stages 1..n-2] with the plain U-Net's output_scales.
Options:
- "gru_channels" (int or null, default null = features[0]): width of the GRU state.
"""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.blocks.conv_gru import ConvGRUCell
from autoseg.networks.blocks.conv_stack import ConvStack
from autoseg.networks.ops import Layers
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


class GRUUNet(EncoderDecoderUNet):
    def __init__(self, spec, gru_channels: int):
        layers = Layers.from_spec(spec)
        blocks = spec.encoder_blocks()

        def encoder_stage(i, in_ch, out_ch):
            return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], blocks[i], spec.strides[i])

        def decoder_stage(i, in_ch, out_ch):
            return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks)

        super().__init__(spec, encoder_stage, decoder_stage, first_head_stage=1)
        self.project = nn.ModuleList(
            [layers.conv(spec.features[i], gru_channels, 1) for i in range(spec.num_stages - 1)]
        )
        self.gru = ConvGRUCell(layers, gru_channels, gru_channels, spec.kernel_sizes[0])
        self.gru_head = layers.head(gru_channels, spec.num_classes)

    def forward_padded(self, x: torch.Tensor, all_outputs: bool) -> list[torch.Tensor]:
        decoded = self.decode(self.encode(x))
        full = decoded[0].shape[2:]
        state = None
        for i in reversed(range(len(decoded))):
            state = self.gru(self.layers.resize(self.project[i](decoded[i]), full), state)
        outputs = [self.gru_head(state)]
        if all_outputs:
            outputs += [self.head(i, decoded[i]) for i in range(1, len(decoded))]
        return outputs


@register("gru_unet")
def build_gru_unet(spec) -> GRUUNet:
    """GRU-gated U-Net (GRUU-Net): a full-resolution ConvGRU fuses every decoder scale."""
    gru_channels = read_options(spec, {"gru_channels": None})["gru_channels"]
    return GRUUNet(spec, int(gru_channels) if gru_channels else spec.features[0])
