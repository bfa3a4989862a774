"""Inference-time re-parameterisation: fuse every block that knows how (RepMLP units) into its single operator."""
from __future__ import annotations

from torch import nn


def reparameterize(model: nn.Module) -> nn.Module:
    """Call `reparameterize()` in place on every sub-module that has one; a no-op for other networks.

    Use it after loading trained weights and before inference; the fused model's state_dict no longer has the
    branch parameters, so save checkpoints from the unfused model.
    """
    from autoseg.networks.base import SegmentationNetwork
    for module in list(model.modules()):
        if module is model or isinstance(module, SegmentationNetwork):
            continue
        fuse = getattr(module, "reparameterize", None)
        if callable(fuse):
            fuse()
    return model
