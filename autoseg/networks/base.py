"""What every autoseg network shares: any input size, deep supervision in training, one output at inference.

Sizes: the input is zero-padded at the end of each axis to a multiple of `size_multiple` (the product of the
plan's strides), run, and every output is cropped back. An output at downsampling factor s along an axis of input
size n has size ceil(n / s) (== n / s when divisible) -- the size `target[..., ::s]` has, so the trainer can
downsample targets by slicing (nearest) or by pooling with ceil_mode=True.

Outputs: in `train()` mode with deep supervision, forward returns a list of logits, one per entry of
`output_scales` and in that order (highest resolution first); otherwise it returns the first (main) output alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from autoseg.networks.ops import ceil_div, prod


class SegmentationNetwork(nn.Module, ABC):
    """Base class: subclasses implement `forward_padded(x, all_outputs)` on inputs whose size is a multiple of
    `size_multiple`, returning the outputs listed by `supervision_scales` (only the first when all_outputs is
    False)."""

    def __init__(self, spec, supervision_scales: Sequence[Sequence[int]]):
        super().__init__()
        self.spatial_dims = spec.spatial_dims
        self.in_channels = spec.in_channels
        self.num_classes = spec.num_classes
        self.deep_supervision = bool(spec.deep_supervision)
        self.size_multiple = tuple(prod(axis) for axis in zip(*spec.strides))
        self.supervision_scales = [tuple(int(v) for v in s) for s in supervision_scales]
        full = (1,) * spec.spatial_dims
        # what the trainer sees in train mode: every supervised output, or just the main (full-resolution) one
        self.output_scales = list(self.supervision_scales) if self.deep_supervision else [full]

    @abstractmethod
    def forward_padded(self, x: torch.Tensor, all_outputs: bool) -> list[torch.Tensor]:
        """Outputs for an input whose size is a multiple of size_multiple, in supervision_scales order."""

    def forward(self, x: torch.Tensor):
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(
                f"expected input (N, C, {'Z, ' if self.spatial_dims == 3 else ''}Y, X) with "
                f"{self.spatial_dims} spatial axes, got shape {tuple(x.shape)}"
            )
        size = tuple(x.shape[2:])
        all_outputs = self.training and self.deep_supervision
        outputs = self.forward_padded(pad_to_multiple(x, self.size_multiple), all_outputs)
        scales = self.supervision_scales if all_outputs else self.supervision_scales[:1]
        cropped = [crop_to(o, [ceil_div(n, s) for n, s in zip(size, scale)]) for o, scale in zip(outputs, scales)]
        return cropped if all_outputs else cropped[0]

    def reparameterize(self) -> "SegmentationNetwork":
        """Fuse every re-parameterisable block for inference (no-op for architectures without any)."""
        return reparameterize(self)


def reparameterize(model: nn.Module) -> nn.Module:
    """Inference-time re-parameterisation: call `reparameterize()` in place on every sub-module that has one
    (RepMLP units fuse into their single operator); a no-op for other networks.

    Use it after loading trained weights and before inference; the fused model's state_dict no longer has the
    branch parameters, so save checkpoints from the unfused model.
    """
    for module in list(model.modules()):
        if module is model or isinstance(module, SegmentationNetwork):
            continue
        fuse = getattr(module, "reparameterize", None)
        if callable(fuse):
            fuse()
    return model


def pad_to_multiple(x: torch.Tensor, multiple: Sequence[int]) -> torch.Tensor:
    """Zero-pad the end of each spatial axis up to a multiple of `multiple` (inputs are normalised, mean ~0)."""
    extra = [ceil_div(n, m) * m - n for n, m in zip(x.shape[2:], multiple)]
    if not any(extra):
        return x
    pads = []
    for e in reversed(extra):  # F.pad lists the last axis first
        pads += [0, e]
    return F.pad(x, pads)


def crop_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return x[(Ellipsis, *[slice(0, n) for n in size])]
