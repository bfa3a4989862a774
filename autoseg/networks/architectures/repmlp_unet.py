"""RepMLP U-Net: the plain U-Net with RepMLP residual blocks in its low-resolution encoder stages.

Encoder stage i in `repmlp_stages`: a strided conv-norm-act to features[i], then max(1, blocks_per_stage[i] - 1)
RepMLPBlocks (1x1 reduce, RepMLP unit = grouped partition FC + conv branches [stage kernel, 1x1] with
BatchNorm, 1x1 expand, residual). Other stages and the whole decoder are the plain U-Net's. At low resolution
a partition covers a large part of the feature map, so the FC acts as a global (MLP-like) mixer there, which
convolutions reach only through many layers.

`model.reparameterize()` (or autoseg.networks.reparameterize(model)) folds the conv branches into the FCs for
inference; outputs are unchanged in eval mode (to float rounding).

Options:
- "repmlp_stages" (list of stage indices, default: the two lowest-resolution stages).
- "partition_size" (int or per-axis list, default 4): partition extent per axis; axes whose stage kernel is 1
  get 1 (no mixing along an axis the plan keeps separate). FC weights per block: groups * (c * prod(p))^2.
- "channels_per_group" (int, default 4): channels c per FC / conv group.
- "reduction" (int, default 2): bottleneck width = features[i] / reduction (rounded up to a multiple of c).
"""

from __future__ import annotations

from torch import nn

from autoseg.errors import AutosegError
from autoseg.networks.blocks.conv_stack import ConvStack
from autoseg.networks.blocks.repmlp import RepMLPBlock
from autoseg.networks.ops import Layers, ceil_div, per_axis
from autoseg.networks.options import read_options
from autoseg.networks.registry import register
from autoseg.networks.skeleton import EncoderDecoderUNet


@register("repmlp_unet")
def build_repmlp_unet(spec) -> EncoderDecoderUNet:
    """RepMLP U-Net: conv + grouped partition-FC blocks at low resolution, re-parameterisable for inference."""
    n = spec.num_stages
    options = read_options(
        spec, {"repmlp_stages": [n - 2, n - 1], "partition_size": 4, "channels_per_group": 4, "reduction": 2}
    )
    stages = {int(s) % n for s in options["repmlp_stages"]}
    c = int(options["channels_per_group"])
    if c < 1 or int(options["reduction"]) < 1:
        raise AutosegError(
            "repmlp_unet channels_per_group and reduction must be >= 1",
            fix="fix network.options.channels_per_group / reduction",
        )
    partition_option = per_axis(options["partition_size"], spec.spatial_dims)
    layers = Layers.from_spec(spec)
    blocks = spec.encoder_blocks()

    def repmlp_block(i, channels):
        kernel = tuple(spec.kernel_sizes[i])
        partition = tuple(p if k > 1 else 1 for p, k in zip(partition_option, kernel))
        inner = ceil_div(ceil_div(channels, int(options["reduction"])), c) * c
        conv_kernels = [kernel] if all(k == 1 for k in kernel) else [kernel, (1,) * spec.spatial_dims]
        return RepMLPBlock(layers, channels, inner, partition, inner // c, conv_kernels)

    def encoder_stage(i, in_ch, out_ch):
        if i not in stages:
            return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], blocks[i], spec.strides[i])
        return nn.Sequential(
            layers.conv_norm_act(in_ch, out_ch, spec.kernel_sizes[i], spec.strides[i]),
            *[repmlp_block(i, out_ch) for _ in range(max(1, blocks[i] - 1))],
        )

    def decoder_stage(i, in_ch, out_ch):
        return ConvStack(layers, in_ch, out_ch, spec.kernel_sizes[i], spec.decoder_blocks)

    return EncoderDecoderUNet(spec, encoder_stage, decoder_stage)
