"""The declared schema of plans.json (autoseg/schema/plans.py's dataclasses, field for field): types and bounds
checked before the dataclasses are built. Unknown fields are refused, as plans.py always did: a misspelt
"patch_sise" would otherwise be silently ignored. tests/test_schema_files.py checks that these models and the
dataclasses list the same fields."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from autoseg.schema.bounds import (
    MAX_BATCH,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_ITERATIONS,
    FileEnding,
    Fraction,
    Iterations,
    LabelValue,
    PatchAxis,
    SafeName,
    ShapeAxis,
    ShortText,
    Spacing,
)
from autoseg.schema.network_file import STRICT, NetworkSpecFile

Axis = Annotated[int, Field(ge=0, le=2)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Batch = Annotated[int, Field(ge=1, le=MAX_BATCH)]


class ChannelNormalizationFile(BaseModel):
    model_config = STRICT
    scheme: ShortText
    use_mask: bool = False
    mean: Finite | None = None
    std: Finite | None = None
    clip: Annotated[list[Finite], Field(min_length=2, max_length=2)] | None = None
    constant_background: bool = False


class ResamplingFile(BaseModel):
    model_config = STRICT
    image_order: Annotated[int, Field(ge=0, le=5)] = 3
    label_order: Annotated[int, Field(ge=0, le=5)] = 1
    anisotropic_axis: Axis | None = None
    anisotropic_order: Annotated[int, Field(ge=0, le=5)] = 0
    keep_native_axes: Annotated[list[Axis], Field(max_length=3)] = []


class TrainingPlanFile(BaseModel):
    model_config = STRICT
    loss: ShortText = "dice_ce"
    batch_dice: bool = True
    optimizer: ShortText = "sgd"
    learning_rate: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 1e-2  # 0: a frozen baseline
    momentum: Fraction = 0.99
    weight_decay: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 3e-5
    grad_clip: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 12.0
    schedule: ShortText = "poly"
    warmup_fraction: Fraction = 0.0
    progressive_fraction: Fraction = 0.0
    progressive_patch_size: Annotated[list[PatchAxis], Field(min_length=2, max_length=3)] | None = None
    progressive_batch_size: Batch | None = None
    epochs: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] = 1000
    iterations_per_epoch: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] = 250
    val_iterations: Iterations = 50
    time_budget_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    expected_iterations: Iterations | None = None
    max_epochs: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] | None = None
    oversample_foreground: Fraction = 0.33
    deep_supervision_levels: Annotated[int, Field(ge=0, le=64)] = 0
    ema_pseudo_dice: Fraction = 0.9
    weight_averaging: Fraction = 0.0
    precision: ShortText = "auto"
    channels_last: ShortText = "auto"
    compile: ShortText | bool = "auto"
    loader_workers: ShortText | Annotated[int, Field(ge=0, le=1024)] = "auto"
    seed: int = 0


class AugmentationPlanFile(BaseModel):
    model_config = STRICT
    rotation_p: Fraction = 0.2
    rotation_deg: Annotated[list[Finite], Field(min_length=2, max_length=2)] = [-30.0, 30.0]
    scale_p: Fraction = 0.2
    scale_range: Annotated[list[Annotated[float, Field(gt=0, le=100)]], Field(min_length=2, max_length=2)] = [0.7, 1.4]
    elastic_p: Fraction = 0.0
    dummy_2d: bool = False
    noise_p: Fraction = 0.1
    blur_p: Fraction = 0.2
    brightness_p: Fraction = 0.15
    contrast_p: Fraction = 0.15
    lowres_p: Fraction = 0.25
    gamma_p: Fraction = 0.3
    gamma_inverted_p: Fraction = 0.1
    mirror_axes: Annotated[list[Axis], Field(max_length=3)] = []


class ConfigurationFile(BaseModel):
    model_config = STRICT
    name: SafeName
    spatial_dims: Literal[2, 3]
    data_identifier: SafeName
    spacing: Annotated[list[Spacing], Field(min_length=1, max_length=3)]
    median_shape: Annotated[list[ShapeAxis], Field(min_length=1, max_length=3)]
    patch_size: Annotated[list[PatchAxis], Field(min_length=2, max_length=3)]
    batch_size: Batch
    normalization: Annotated[list[ChannelNormalizationFile], Field(min_length=1, max_length=MAX_CHANNELS)]
    network: NetworkSpecFile
    resampling: ResamplingFile = ResamplingFile()
    training: TrainingPlanFile = TrainingPlanFile()
    augmentation: AugmentationPlanFile = AugmentationPlanFile()
    previous_stage: SafeName | None = None
    next_stage: SafeName | None = None
    reasons: list[Annotated[str, Field(max_length=100_000)]] = []
    variant_of: SafeName | None = None

    @model_validator(mode="after")
    def _patch_has_one_entry_per_axis(self) -> ConfigurationFile:
        if len(self.patch_size) != self.spatial_dims or self.network.spatial_dims != self.spatial_dims:
            raise ValueError(
                f"patch_size {self.patch_size} and network.spatial_dims {self.network.spatial_dims} "
                f"must both have spatial_dims = {self.spatial_dims} axes"
            )
        return self


class PlansFile(BaseModel):
    model_config = STRICT
    FIX: ClassVar[str] = "correct that field of plans.json, or re-run 'autoseg plan' (or export the model again)"
    version: Literal[1]
    dataset_name: ShortText
    dataset_path: ShortText
    layout: ShortText
    file_ending: FileEnding
    channel_names: Annotated[list[ShortText], Field(min_length=1, max_length=MAX_CHANNELS)]
    labels: Annotated[dict[ShortText, LabelValue], Field(min_length=1, max_length=MAX_CLASSES)]
    transpose_forward: Annotated[list[Axis], Field(min_length=3, max_length=3)]
    transpose_backward: Annotated[list[Axis], Field(min_length=3, max_length=3)]
    preset: ShortText
    device: dict[str, Any]
    seed: int
    configurations: Annotated[dict[SafeName, ConfigurationFile], Field(min_length=1, max_length=64)]
    split_mode: ShortText = "random"
    ignore_label: LabelValue | None = None
    regions: (
        Annotated[
            dict[ShortText, Annotated[list[LabelValue], Field(min_length=1)]],
            Field(min_length=1, max_length=MAX_CLASSES),
        ]
        | None
    ) = None
    regions_class_order: Annotated[list[LabelValue], Field(max_length=MAX_CLASSES)] | None = None
    regions_source: ShortText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlansFile:
        for axes in (self.transpose_forward, self.transpose_backward):
            if sorted(axes) != [0, 1, 2]:
                raise ValueError(
                    f"transpose_forward and transpose_backward must be permutations of [0, 1, 2], found {axes}"
                )
        for key, config in self.configurations.items():
            if config.name != key:
                raise ValueError(f"configuration '{key}' is named '{config.name}' inside; the two must agree")
            for stage in (config.previous_stage, config.next_stage, config.variant_of):
                if stage is not None and stage not in self.configurations:
                    raise ValueError(f"configuration '{key}' refers to '{stage}', which is not in configurations")
        return self
