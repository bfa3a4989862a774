"""The declared schema of a network spec as plans.json and checkpoints hold it (autoseg/schema/network.py's
NetworkSpec): types and per-value bounds. Whether the lists agree with each other (one kernel per stage ...) is
networks.factory.validate_spec's job; whether the network fits the machine is inference/network_budget.py's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoseg.schema.bounds import MAX_KERNEL, MAX_STAGES, MAX_STRIDE, Channels, ClassCount, ShortText, Width

Kernel = Annotated[int, Field(ge=1, le=MAX_KERNEL)]
Stride = Annotated[int, Field(ge=1, le=MAX_STRIDE)]
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class NetworkSpecFile(BaseModel):
    model_config = STRICT
    architecture: Annotated[str, Field(min_length=1, max_length=128)]
    spatial_dims: Literal[2, 3]
    in_channels: Channels
    num_classes: ClassCount
    features: Annotated[list[Width], Field(min_length=1, max_length=MAX_STAGES)]
    kernel_sizes: Annotated[
        list[Annotated[list[Kernel], Field(min_length=2, max_length=3)]], Field(min_length=1, max_length=MAX_STAGES)
    ]
    strides: Annotated[
        list[Annotated[list[Stride], Field(min_length=2, max_length=3)]], Field(min_length=1, max_length=MAX_STAGES)
    ]
    blocks_per_stage: Annotated[list[Annotated[int, Field(ge=1, le=64)]], Field(max_length=MAX_STAGES)] = []
    decoder_blocks: Annotated[int, Field(ge=1, le=64)] = 1
    norm: ShortText = "instance"
    activation: ShortText = "leaky_relu"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    deep_supervision: bool = True
    options: dict[str, Any] = {}
