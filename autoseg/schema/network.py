"""NetworkSpec: everything `autoseg.networks.build_network` needs, as it appears in plans.json.

Axis convention everywhere in autoseg: numpy order (axis 0 is the slowest, z for volumes).
Stage 0 is the full-resolution stage; strides[0] is all ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NetworkSpec:
    architecture: str  # registry name, see `autoseg networks`
    spatial_dims: int  # 2 or 3
    in_channels: int
    num_classes: int  # including background
    features: list[int]  # channels per stage, stage 0 = full resolution
    kernel_sizes: list[list[int]]  # per stage, per axis (e.g. [1,3,3] for an anisotropic first stage)
    strides: list[list[int]]  # per stage, per axis: downsampling into that stage; strides[0] == ones
    blocks_per_stage: list[int] = field(default_factory=list)  # encoder blocks (or convs) per stage; [] -> 2 each
    decoder_blocks: int = 1  # blocks per decoder stage
    norm: str = "instance"  # instance | batch | group
    activation: str = "leaky_relu"  # leaky_relu | relu | gelu
    dropout: float = 0.0
    deep_supervision: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # architecture-specific knobs, documented per builder

    @property
    def num_stages(self) -> int:
        return len(self.features)

    def encoder_blocks(self) -> list[int]:
        return list(self.blocks_per_stage) if self.blocks_per_stage else [2] * self.num_stages
