"""The declared schema of a planner preset (plans/*.json, or a user's --preset file), checked after the presets it
extends are merged in: the merged preset must give everything the planner reads, with sane types and bounds.
Unknown keys are refused, so a misspelt "max_patch_voxels_3D" does not silently leave the default in force; keys
that begin with "_" are comments (plans/default.json explains its numbers in "_why")."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator

from autoseg.schema.bounds import (
    MAX_BATCH,
    MAX_FEATURES,
    MAX_ITERATIONS,
    MAX_PATCH_AXIS,
    MAX_STAGES,
    Fraction,
    SafeName,
)
from autoseg.schema.network_file import STRICT
from autoseg.schema.plans_file import AugmentationPlanFile, TrainingPlanFile

Text = Annotated[str, Field(max_length=100_000)]
Batch = Annotated[int, Field(ge=1, le=MAX_BATCH)]
Features = Annotated[int, Field(ge=1, le=MAX_FEATURES)]
MAX_BLOCKS = 64
Blocks = Annotated[int, Field(ge=1, le=MAX_BLOCKS)]
Stages = Annotated[int, Field(ge=1, le=MAX_STAGES)]
Steps = Annotated[int, Field(ge=1, le=MAX_ITERATIONS)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
OpenFraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class _Commented(BaseModel):
    """Keys that begin with "_" are comments for the reader of the file; the schema skips them."""

    model_config = STRICT

    @model_validator(mode="before")
    @classmethod
    def _drop_comments(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("_"))}
        return data


class ProgressiveFile(_Commented):
    fraction: Fraction = 0.0
    patch_scale: OpenFraction = 0.6
    batch_factor: Annotated[float, Field(gt=0, le=64, allow_inf_nan=False)] = 2


BlocksPerStage = int | Annotated[list[int], Field(min_length=1, max_length=MAX_STAGES)]


def _check_blocks(value: int | list[int]) -> int | list[int]:
    # checked here rather than by a union of two types, whose error would name the member it tried first
    if not all(1 <= n <= MAX_BLOCKS for n in (value if isinstance(value, list) else [value])):
        raise ValueError(f"every number of blocks must lie in 1..{MAX_BLOCKS}")
    return value


class CapacityVariantFile(_Commented):
    """The network of a long budget's capacity variant (planning/capacity_variant.py), on the reference plan's
    patch and batch."""

    architecture: SafeName
    blocks_per_stage: BlocksPerStage
    decoder_blocks: Blocks

    _blocks_in_range = field_validator("blocks_per_stage")(_check_blocks)


class _DeviceSettings(_Commented):
    """What the planner reads for either device: network size, patch and batch limits, epoch length."""

    base_features: Features
    max_features_3d: Features
    max_features_2d: Features
    # one number for every stage, or one per encoder stage (nnU-Net ResEnc's 1, 3, 4, 6, 6, 6)
    blocks_per_stage: BlocksPerStage
    decoder_blocks: Blocks
    min_batch_3d: Batch
    min_batch_2d: Batch
    max_patch_voxels_3d: Annotated[int, Field(ge=1, le=MAX_PATCH_AXIS**3)]
    max_patch_pixels_2d: Annotated[int, Field(ge=1, le=MAX_PATCH_AXIS**2)]
    iterations_per_epoch: Steps
    progressive: ProgressiveFile | None = None
    training: TrainingPlanFile = TrainingPlanFile()
    augmentation: AugmentationPlanFile = AugmentationPlanFile()

    _blocks_in_range = field_validator("blocks_per_stage")(_check_blocks)


class CpuSettingsFile(_DeviceSettings):
    """A CPU plan is sized to a time budget: enough iterations of the patch within it."""

    time_budget_s: Seconds
    usable_fraction: OpenFraction
    min_iterations_3d: Steps
    min_iterations_2d: Steps
    max_batch_3d: Batch
    max_batch_2d: Batch
    # budgets above this one spend the extra time by the budget policy (planning/budget_policy.py)
    reference_budget_s: Seconds | None = None
    # a long budget's training stops after this many passes over the training images; 0: no cap
    max_passes: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None
    # a long budget's plan also carries the reference plan with this network, for a rung to judge; null: none
    capacity_variant: CapacityVariantFile | None = None


class GpuSettingsFile(_DeviceSettings):
    """A GPU plan is sized to the GPU's memory, and trains a fixed number of epochs."""

    memory_gb: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
    max_batch_fraction_of_dataset: OpenFraction
    epochs: Steps


class PresetFile(_Commented):
    name: SafeName
    description: Text = ""
    anisotropy_threshold: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)]
    min_feature_map_edge: Annotated[int, Field(ge=1, le=MAX_PATCH_AXIS)]
    max_stages_3d: Stages
    max_stages_2d: Stages
    # a configuration gets a low-resolution stage when its patch covers less than this share of the median image
    # (above 1: always, as tests and users forcing a cascade set it)
    lowres_trigger: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    architecture: SafeName
    gpu: GpuSettingsFile
    cpu: CpuSettingsFile
    training: TrainingPlanFile = TrainingPlanFile()
    augmentation: AugmentationPlanFile = AugmentationPlanFile()
    FIX: ClassVar[str] = (
        'correct that field (plans/default.json shows every field), or add "extends": "default" to inherit the '
        "fields you leave out"
    )
