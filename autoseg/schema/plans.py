"""plans.json: the contract between `autoseg plan` and everything after it.

A user (or the search) may edit it; `autoseg train` builds exactly what it says. Every field is documented in
README.md ("plans.json"). Shapes, spacings and axes are in numpy order *after* `transpose_forward`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.schema.convert import from_dict, to_dict
from autoseg.schema.network import NetworkSpec

PLANS_VERSION = 1


@dataclass
class ChannelNormalization:
    scheme: str  # "zscore" (per image), "ct" (clip + global z-score), "rescale", "none"
    use_mask: bool = False  # z-score statistics inside the nonzero mask only; outside set to 0
    mean: float | None = None  # ct: global foreground mean
    std: float | None = None  # ct: global foreground std
    clip: list[float] | None = None  # ct: [low, high] foreground percentiles 0.5 / 99.5
    constant_background: bool = False  # background is one non-zero constant per image (found on its border):
    #                                      crop and mask with that value instead of with 0


@dataclass
class Resampling:
    image_order: int = 3  # spline order for images
    label_order: int = 1  # labels are resampled as one-hot maps with this order, then argmax
    anisotropic_axis: int | None = None  # axis resampled separately (nearest neighbour) when much coarser
    anisotropic_order: int = 0
    keep_native_axes: list[int] = field(default_factory=list)  # axes left at each case's own spacing (2d: axis 0)


@dataclass
class TrainingPlan:
    loss: str = "dice_ce"  # see autoseg.training.losses (dice_ce, tversky, focal, ...)
    batch_dice: bool = True  # Dice over the whole batch (True) or per sample
    optimizer: str = "sgd"  # sgd (Nesterov) | adamw
    learning_rate: float = 1e-2
    momentum: float = 0.99
    weight_decay: float = 3e-5
    grad_clip: float = 12.0
    schedule: str = "poly"  # poly | cosine; laid over epochs or over the time budget
    warmup_fraction: float = 0.0  # share of the run with a linear warm-up of the learning rate
    progressive_fraction: float = 0.0  # share of the budget trained first on smaller patches (cheap samples
    progressive_patch_size: list[int] | None = None  # learn local appearance fast; full patches add context)
    progressive_batch_size: int | None = None
    epochs: int = 1000  # used when no time budget is given
    iterations_per_epoch: int = 250
    val_iterations: int = 50  # patch-based pseudo-Dice batches per epoch
    time_budget_s: float | None = None  # the budget the plan was sized for (train --time-budget overrides)
    expected_iterations: int | None = None  # what the planner predicted for that budget, for the log
    max_epochs: int | None = None  # with a time budget: stop here even if time is left (a long budget's cap on
    #                                passes over the training images, planning/budget_policy.py)
    oversample_foreground: float = 0.33  # share of each batch centred on a foreground voxel
    deep_supervision_levels: int = 0  # 0 = every output the network gives
    ema_pseudo_dice: float = 0.9  # smoothing of the per-epoch pseudo-Dice that picks the best checkpoint
    weight_averaging: float = 0.0  # >0: keep an exponential moving average of weights with this decay
    precision: str = "auto"  # auto | fp32 | bf16 | fp16; auto measures what is faster on the device
    channels_last: str = "auto"  # auto | on | off
    compile: str | bool = "auto"  # auto | on | off: torch.compile the training forward (auto: runs long
    # enough to repay ~30 s of compiling; see training/compiled.py)
    loader_workers: str | int = "auto"  # background augmentation processes
    seed: int = 0


@dataclass
class AugmentationPlan:
    rotation_p: float = 0.2  # per sample
    rotation_deg: list[float] = field(default_factory=lambda: [-30.0, 30.0])
    scale_p: float = 0.2
    scale_range: list[float] = field(default_factory=lambda: [0.7, 1.4])
    elastic_p: float = 0.0
    dummy_2d: bool = False  # rotate/scale in-plane only (anisotropic 3D patches)
    noise_p: float = 0.1
    blur_p: float = 0.2
    brightness_p: float = 0.15
    contrast_p: float = 0.15
    lowres_p: float = 0.25
    gamma_p: float = 0.3
    gamma_inverted_p: float = 0.1
    mirror_axes: list[int] = field(default_factory=list)  # spatial axes flipped at random (and for TTA)


@dataclass
class Configuration:
    name: str
    spatial_dims: int  # 2: trained on slices along axis 0; 3: on volumes
    data_identifier: str  # folder under WORK/preprocessed
    spacing: list[float]  # target spacing (3 entries; 2d configs keep the volume's axis 0)
    median_shape: list[int]  # median image shape at this spacing (after cropping)
    patch_size: list[int]  # spatial_dims entries
    batch_size: int
    normalization: list[ChannelNormalization]
    network: NetworkSpec
    resampling: Resampling = field(default_factory=Resampling)
    training: TrainingPlan = field(default_factory=TrainingPlan)
    augmentation: AugmentationPlan = field(default_factory=AugmentationPlan)
    previous_stage: str | None = None  # cascade: the configuration whose prediction is an extra input
    next_stage: str | None = None
    reasons: list[str] = field(default_factory=list)  # why the planner decided what it did, for people
    # A long CPU budget's second plan for the same data (planning/budget_policy.py): the configuration this one is
    # a variant of. Trained only when asked for, or when the scheduler's halving compares it with that one.
    variant_of: str | None = None


@dataclass
class Plans:
    version: int
    dataset_name: str
    dataset_path: str
    layout: str
    file_ending: str
    channel_names: list[str]
    labels: dict[str, int]
    transpose_forward: list[int]  # raw numpy axes -> planned axes
    transpose_backward: list[int]
    preset: str
    device: dict[str, Any]  # what the plan was sized for: kind, memory or time budget, measured speed
    seed: int
    configurations: dict[str, Configuration]
    split_mode: str = "random"
    ignore_label: int | None = None
    regions: dict[str, list[int]] | None = None  # region-based training: region name -> label values; the
    regions_class_order: list[int] | None = None  # networks have one sigmoid output per region, and region i
    # writes value regions_class_order[i] back into label maps
    regions_source: str | None = None  # where the regions came from: dataset.json or a --regions file

    def configuration(self, name: str) -> Configuration:
        if name not in self.configurations:
            raise AutosegError(
                f"configuration '{name}' is not in plans.json", fix=f"choose one of {sorted(self.configurations)}"
            )
        return self.configurations[name]

    @property
    def num_classes(self) -> int:
        """Plain label values the label maps hold, background included (the outputs unless regions are used)."""
        return len(self.labels)

    @property
    def num_outputs(self) -> int:
        """Network output channels: one per region, or one per class."""
        return len(self.regions) if self.regions else len(self.labels)


def plans_from_dict(data: dict[str, Any], source: str | None = None) -> Plans:
    """Plans from parsed plans.json, after checking it against the declared schema (schema/plans_file.py):
    types, bounds, names that are safe as paths."""
    from autoseg.schema.load import validate_data
    from autoseg.schema.plans_file import PlansFile

    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version != PLANS_VERSION:
        raise AutosegError(
            f"plans.json version {version!r} is not supported (this autoseg reads {PLANS_VERSION})",
            source,
            "re-run 'autoseg plan' with this version of autoseg",
        )
    validate_data(data, PlansFile, "plans.json", source)
    return from_dict(Plans, data, "plans", source)


def plans_to_dict(plans: Plans) -> dict[str, Any]:
    return to_dict(plans)


def load_plans(work: str | Path) -> Plans:
    from autoseg.utils.json_limits import read_bounded_json

    path = Path(work) / "plans.json"
    if not path.is_file():
        raise AutosegError("plans.json not found", path, "run 'autoseg plan DATASET -o WORK' first")
    return plans_from_dict(read_bounded_json(path, "plans.json"), str(path))


def save_plans(plans: Plans, work: str | Path) -> Path:
    from autoseg.utils.files import write_json

    return write_json(Path(work) / "plans.json", plans_to_dict(plans))
