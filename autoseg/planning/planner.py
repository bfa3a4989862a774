"""From a fingerprint and a device budget to plans.json: one Configuration per way of training.

- 2d: always (slices along the planned axis 0).
- 3d_fullres: for volumes.
- 3d_lowres + 3d_cascade_fullres: when the full-resolution patch sees well under a quarter of the median image,
  a coarser first stage sees the whole context and its prediction guides the full-resolution stage.
Every decision is recorded with its reason in `Configuration.reasons` and logged.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from autoseg.planning.budget import DeviceBudget
from autoseg.planning.budget_policy import context_patch, is_long_budget, size_long_budget
from autoseg.planning.capacity_variant import CAPACITY_SUFFIX, capacity_sizing
from autoseg.planning.iterations import iterations_in_budget, progressive_share
from autoseg.planning.normalization import choose_normalization
from autoseg.planning.patch_and_batch import Sizing, size_to_budget
from autoseg.planning.spacing import axis_transpose, is_anisotropic, target_spacing
from autoseg.schema.convert import from_dict, to_dict
from autoseg.schema.plans import AugmentationPlan, Configuration, Resampling, TrainingPlan

log = logging.getLogger("autoseg.plan")

# Lowres spacing grows in steps of this factor until the patch sees enough of the (coarser) median image.
LOWRES_STEP = 1.1
LOWRES_TARGET_COVERAGE = 0.5
LOWRES_MAX_FACTOR = 8.0
# A 3D patch this much flatter along axis 0 than in-plane gets 2D (in-plane) rotation and scaling.
DUMMY_2D_RATIO = 3.0
# The name of a long budget's variant that keeps the reference patch: 3d_fullres -> 3d_fullres_reference_patch.
VARIANT_SUFFIX = "_reference_patch"
# Rotation limit (degrees) for data whose labels sit shifted from the image edges along an axis.
SHIFTED_LABELS_MAX_ROTATION = 15.0

# CPU planning: the speed assumed before the first measurement, and how measurement and plan are reconciled.
DEFAULT_CPU_FLOPS = 100e9
MAX_CALIBRATIONS = 3
CALIBRATION_TOLERANCE = 0.15

RateFunction = Callable[[str, Sizing], float]


@dataclass(frozen=True)
class PlanInputs:
    """What every configuration of one plan is decided from: the data (fingerprint, target spacing, transpose),
    the preset and the device budget, and the reasons all configurations share. One value instead of the dozen
    positional arguments each configuration's planning took."""

    fingerprint: dict[str, Any]
    preset: dict[str, Any]
    budget: DeviceBudget
    spacing: list[float]  # target spacing, in the data's axis order
    forward: list[int]  # transpose: planned axis i is data axis forward[i]
    normalization: Any
    common: list[str]  # reasons every configuration shares
    shifted_axes: dict[int, float] = field(default_factory=dict)
    seed: int = 0
    measure_rate: RateFunction | None = None

    @property
    def settings(self) -> dict[str, Any]:
        return self.preset["gpu"] if self.budget.kind == "cuda" else self.preset["cpu"]

    @property
    def spacing_t(self) -> list[float]:
        return [self.spacing[a] for a in self.forward]

    @cached_property
    def median_t(self) -> np.ndarray:
        return _median_shape_at(self.fingerprint, self.spacing)[self.forward]

    def sized(
        self, name: str, dims: int, cfg_spacing: list[float], median: np.ndarray, *, with_capacity: bool = True
    ) -> Sizing:
        """Patch, batch and network for a configuration at `cfg_spacing`, sized to the budget (on a CPU
        calibrated against a measured speed when the plan measures). A CPU budget beyond the reference one is
        spent as budget_policy.py decides; `with_capacity=False` skips sizing a capacity variant nobody will plan
        (the low-resolution stage has no variants)."""

        def size(budget: DeviceBudget, start: np.ndarray) -> Sizing:
            return self._size(budget, dims, cfg_spacing, start)

        if not is_long_budget(self.budget, self.settings):
            return size(self.budget, median)

        def iterations(sizing: Sizing, seconds: float) -> int:
            budget = dataclasses.replace(self.budget, time_budget_s=seconds)
            return _training_plan(self.preset, budget, self.settings, sizing).expected_iterations or 0

        training_voxels = float(np.prod(median)) * self.fingerprint["num_cases"]
        if dims == 2:  # a 2d configuration samples every slice of a volume
            training_voxels *= float(self.median_t[0])

        def per_iteration(sizing: Sizing) -> tuple[float, float]:
            return _sampled_per_iteration(self.preset, self.budget, self.settings, sizing, training_voxels)

        def capacity(reference: Sizing) -> Sizing | None:
            channels = (self.fingerprint["num_channels"], len(self.fingerprint["labels"]))
            rate = self.budget.flops_per_s.get(f"{dims}d") or DEFAULT_CPU_FLOPS
            return capacity_sizing(reference, self.settings, channels, rate)

        context = context_patch(self.fingerprint.get("structure_extent_mm"), cfg_spacing, median)
        return size_long_budget(
            self.budget,
            self.settings,
            median,
            context,
            size=size,
            iterations=iterations,
            per_iteration=per_iteration,
            capacity=capacity if with_capacity else None,
        )

    def _size(self, budget: DeviceBudget, dims: int, cfg_spacing: list[float], median: np.ndarray) -> Sizing:
        preset, fingerprint = self.preset, self.fingerprint
        max_stages = preset["max_stages_3d"] if dims == 3 else preset["max_stages_2d"]
        args = dict(
            spacing=cfg_spacing,
            median_shape=median.tolist(),
            in_channels=fingerprint["num_channels"],
            num_classes=len(fingerprint["labels"]),
            budget=budget,
            settings=self.settings,
            architecture=preset["architecture"],
            min_edge=preset["min_feature_map_edge"],
            max_stages=max_stages,
            dataset_voxels=float(np.prod(self.median_t) * fingerprint["num_cases"]),
        )
        key = f"{dims}d"
        if budget.kind != "cpu":
            return size_to_budget(**args)
        guess = self.budget.flops_per_s.get(key) or DEFAULT_CPU_FLOPS
        if self.measure_rate is None:
            return size_to_budget(**args, flops_per_s=guess)
        # FLOP/s depend on the network and patch (small convolutions run less efficiently), so measure on the
        # plan itself and re-size until plan and measurement agree.
        sizing = size_to_budget(**args, flops_per_s=guess)
        for _ in range(MAX_CALIBRATIONS):
            measured = self.measure_rate(key, sizing)
            if abs(measured - guess) <= CALIBRATION_TOLERANCE * guess:
                break
            guess = measured
            sizing = size_to_budget(**args, flops_per_s=guess)
        self.budget.flops_per_s[key] = guess
        return sizing


def plan_configurations(
    fingerprint: dict[str, Any],
    preset: dict[str, Any],
    budget: DeviceBudget,
    measure_rate: RateFunction | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Returns the pieces of Plans decided from the data: transpose, and the configurations.

    `seed` is the plan's seed; every configuration trains with it, so `plan --seed` reaches training."""
    inputs = _plan_inputs(fingerprint, preset, budget, measure_rate, seed)
    spacing_t, median_t = inputs.spacing_t, inputs.median_t
    configs: dict[str, Configuration] = {}
    s2d = inputs.sized("2d", 2, spacing_t[1:], median_t[1:])
    configs["2d"] = _configuration(inputs, "2d", 2, spacing_t, median_t, s2d, anisotropic=False)
    sizings = {"2d": s2d}
    if not fingerprint["is_2d"]:
        s3d = sizings["3d_fullres"] = inputs.sized("3d_fullres", 3, spacing_t, median_t)
        anisotropic = is_anisotropic(spacing_t, preset["anisotropy_threshold"])
        configs["3d_fullres"] = _configuration(
            inputs, "3d_fullres", 3, spacing_t, median_t, s3d, anisotropic=anisotropic
        )
        coverage = float(np.prod(s3d.patch_size) / np.prod(median_t))
        if coverage < preset["lowres_trigger"]:
            configs.update(_lowres_and_cascade(inputs, configs["3d_fullres"], coverage))
        else:
            configs["3d_fullres"].reasons.append(
                f"the patch covers {coverage:.0%} of the median image (>= {preset['lowres_trigger']:.0%}): "
                "no low-resolution cascade needed"
            )
    configs.update(_variants(inputs, configs, sizings))
    for cfg in configs.values():
        for reason in cfg.reasons:
            log.info("%s: %s", cfg.name, reason)
    backward = [int(i) for i in np.argsort(inputs.forward)]
    return {"transpose_forward": inputs.forward, "transpose_backward": backward, "configurations": configs}


def _variants(
    inputs: PlanInputs, configs: dict[str, Configuration], sizings: dict[str, Sizing]
) -> dict[str, Configuration]:
    """The variant configurations of a long CPU budget (budget_policy.py), on the same preprocessed data: where the
    policy grew the patch without evidence that it pays, the reference plan as `<name>_reference_patch`; and the
    reference plan with more capacity as `<name>_resenc` (capacity_variant.py). They come last in plans order, so
    a schedule too short to compare every configuration drops them first."""
    variants = {}
    for name, sizing in sizings.items():
        for suffix, other in ((VARIANT_SUFFIX, sizing.alternative), (CAPACITY_SUFFIX, sizing.capacity)):
            if other is not None:
                variant = _variant(inputs, configs[name], suffix, other)
                variants[variant.name] = variant
    return variants


def _variant(inputs: PlanInputs, base: Configuration, suffix: str, sizing: Sizing) -> Configuration:
    variant = _configuration(
        inputs,
        f"{base.name}{suffix}",
        base.spatial_dims,
        inputs.spacing_t,
        inputs.median_t,
        sizing,
        anisotropic=base.resampling.anisotropic_axis is not None,
    )
    variant.data_identifier = base.data_identifier
    variant.variant_of = base.name
    return variant


def _plan_inputs(
    fingerprint: dict[str, Any],
    preset: dict[str, Any],
    budget: DeviceBudget,
    measure_rate: RateFunction | None,
    seed: int,
) -> PlanInputs:
    spacing, spacing_reason = target_spacing(
        fingerprint["median_spacing"], fingerprint["spacing_percentile_10"], preset["anisotropy_threshold"]
    )
    forward = [0, 1, 2] if fingerprint["is_2d"] else axis_transpose(spacing)[0]
    normalization, norm_reasons = choose_normalization(fingerprint)
    common = (
        [spacing_reason]
        + ([f"axes transposed {forward} so the coarsest axis comes first"] if forward != [0, 1, 2] else [])
        + norm_reasons
    )
    return PlanInputs(
        fingerprint=fingerprint,
        preset=preset,
        budget=budget,
        spacing=spacing,
        forward=forward,
        normalization=normalization,
        common=common,
        shifted_axes=shifted_label_axes(fingerprint, forward),
        seed=seed,
        measure_rate=measure_rate,
    )


def shifted_label_axes(fingerprint: dict[str, Any], forward: list[int]) -> dict[int, float]:
    """Transposed axes along which the labels sit shifted from the image edges (label_offsets.py), with the
    shift in voxels; mirroring along them would teach the network the shift both ways."""
    return {
        forward.index(entry["axis"]): entry["shift"]
        for entry in fingerprint.get("label_edge_shift") or []
        if entry.get("shifted_labels")
    }


def _median_shape_at(fingerprint: dict[str, Any], spacing: list[float]) -> np.ndarray:
    shapes = np.array([c["cropped_shape"] for c in fingerprint["cases"]], dtype=float)
    spacings = np.array([c["spacing"] for c in fingerprint["cases"]], dtype=float)
    at_target = shapes * spacings / np.asarray(spacing, dtype=float)
    if fingerprint["is_2d"]:
        at_target[:, 0] = 1
    return np.maximum(np.round(np.median(at_target, axis=0)), 1)


def _configuration(
    inputs: PlanInputs,
    name: str,
    dims: int,
    spacing_t: list[float],
    median_t: np.ndarray,
    sizing: Sizing,
    *,
    anisotropic: bool,
) -> Configuration:
    preset, budget, settings, shifted_axes = inputs.preset, inputs.budget, inputs.settings, inputs.shifted_axes
    training = _training_plan(preset, budget, settings, sizing, inputs.seed)
    # Transposed volume axis a is configuration axis a - (3 - dims) (2d drops axis 0).
    shifted = {a - (3 - dims): shift for a, shift in (shifted_axes or {}).items() if a >= 3 - dims}
    augmentation = _augmentation_plan(preset, settings, dims, sizing.patch_size, shifted)
    resampling = Resampling(anisotropic_axis=0 if anisotropic else None, keep_native_axes=[0] if dims == 2 else [])
    reasons = list(inputs.common) + sizing.reasons
    median_cfg = [int(m) for m in median_t[-dims:]]
    if all(m < 2 * preset["min_feature_map_edge"] for m in median_cfg):
        reasons.append(
            f"the images (median {median_cfg} voxels) are smaller than the smallest network (one "
            f"pooling needs {2 * preset['min_feature_map_edge']} voxels): patch {sizing.patch_size}, "
            "a 2-stage network; cases are padded to the patch"
        )
    pooling = [int(np.log2(s)) for s in sizing.topology.total_stride]
    reasons.append(
        f"{sizing.topology.num_stages} stages, poolings per axis {pooling}, features {sizing.network.features}"
    )
    if training.progressive_patch_size:
        reasons.append(
            f"first {training.progressive_fraction:.0%} of the budget on patch "
            f"{training.progressive_patch_size}, batch {training.progressive_batch_size}"
            + (
                f": ~{training.expected_iterations} iterations in all, at eager speed"
                if training.expected_iterations
                else ""
            )
        )
    reasons += _resampling_and_augmentation_reasons(augmentation, shifted, anisotropic and dims == 3)
    return Configuration(
        name=name,
        spatial_dims=dims,
        data_identifier=name,
        spacing=[float(s) for s in spacing_t],
        median_shape=[int(m) for m in median_t],
        patch_size=sizing.patch_size,
        batch_size=sizing.batch_size,
        normalization=copy.deepcopy(inputs.normalization),
        network=sizing.network,
        resampling=resampling,
        training=training,
        augmentation=augmentation,
        reasons=reasons,
    )


def _resampling_and_augmentation_reasons(
    augmentation: AugmentationPlan, shifted: dict[int, float], anisotropic_3d: bool
) -> list[str]:
    reasons: list[str] = []
    if anisotropic_3d:
        reasons.append("anisotropic: axis 0 is resampled separately (nearest neighbour across slices)")
    if augmentation.dummy_2d:
        reasons.append("patch is flat along axis 0: rotation and scaling in-plane only (dummy 2D)")
    for axis, shift in sorted(shifted.items()):
        rotation = (
            f", rotation within +-{augmentation.rotation_deg[1]:g} degrees" if augmentation.rotation_p > 0 else ""
        )
        reasons.append(
            f"no mirroring along axis {axis}{rotation}: the labels sit {abs(shift):.2f} voxels to one "
            "side of the image edges along it, and mirrored samples would teach the opposite shift"
        )
    return reasons


def _training_plan(
    preset: dict[str, Any], budget: DeviceBudget, settings: dict[str, Any], sizing: Sizing, seed: int = 0
) -> TrainingPlan:
    overrides = {**preset.get("training", {}), **settings.get("training", {})}
    plan = from_dict(TrainingPlan, overrides, "preset.training")
    plan.seed = seed
    plan.iterations_per_epoch = settings["iterations_per_epoch"]
    progressive = settings.get("progressive")
    if progressive and progressive.get("fraction", 0) > 0:
        stride = sizing.topology.total_stride
        small = [max(s, int(round(p * progressive["patch_scale"] / s)) * s) for p, s in zip(sizing.patch_size, stride)]
        if small != list(sizing.patch_size):
            plan.progressive_fraction = progressive["fraction"]
            plan.progressive_patch_size = small
            plan.progressive_batch_size = int(sizing.batch_size * progressive["batch_factor"])
    if budget.kind == "cpu":
        plan.time_budget_s = budget.time_budget_s
        if sizing.seconds_per_iteration:
            plan.expected_iterations = iterations_in_budget(
                budget.time_budget_s * budget.usable_fraction,
                sizing.seconds_per_iteration,
                sizing.patch_size,
                sizing.batch_size,
                progressive_fraction=plan.progressive_fraction,
                progressive_patch=plan.progressive_patch_size,
                progressive_batch=plan.progressive_batch_size,
            )
        plan.val_iterations = max(2, plan.iterations_per_epoch // 10)
        if sizing.max_iterations:
            plan.max_epochs = math.ceil(sizing.max_iterations / plan.iterations_per_epoch)
            plan.time_budget_s = sizing.training_seconds or plan.time_budget_s
            plan.expected_iterations = min(plan.expected_iterations or sizing.max_iterations, sizing.max_iterations)
    else:
        plan.epochs = settings["epochs"]
    return plan


def _sampled_per_iteration(
    preset: dict[str, Any], budget: DeviceBudget, settings: dict[str, Any], sizing: Sizing, training_voxels: float
) -> tuple[float, float]:
    """(passes over the training images, seconds of budget) of one iteration on average, for a training whose
    epochs end it: its first `progressive_fraction` of epochs sample the smaller patches, whose steps cost about
    their share of voxels (iterations.py)."""
    plan = _training_plan(preset, budget, settings, sizing)
    relative = 1.0  # an average step's voxels over a full step's
    if plan.progressive_patch_size and plan.progressive_fraction > 0:
        share = progressive_share(
            sizing.patch_size, sizing.batch_size, plan.progressive_patch_size, plan.progressive_batch_size
        )
        relative = plan.progressive_fraction * share + (1 - plan.progressive_fraction)
    full = float(np.prod(sizing.patch_size)) * sizing.batch_size
    seconds = (sizing.seconds_per_iteration or 0.0) * relative / budget.usable_fraction
    return full * relative / max(training_voxels, 1.0), seconds


def _augmentation_plan(
    preset: dict[str, Any], settings: dict[str, Any], dims: int, patch: list[int], shifted_axes: dict[int, float]
) -> AugmentationPlan:
    """`shifted_axes`: configuration axes along which the labels sit shifted from the image edges."""
    overrides = {**preset.get("augmentation", {}), **settings.get("augmentation", {})}
    aug = from_dict(AugmentationPlan, overrides, "preset.augmentation")
    aug.mirror_axes = [a for a in range(dims) if a not in shifted_axes]
    if dims == 2:
        aug.rotation_deg = [-180.0, 180.0]
    elif max(patch[1:]) / patch[0] > DUMMY_2D_RATIO:
        aug.dummy_2d = True
        aug.rotation_deg = [-180.0, 180.0]
    if shifted_axes:
        # Rotation turns the shift's direction as mirroring flips it; small angles keep it nearly where it was.
        limit = min(SHIFTED_LABELS_MAX_ROTATION, *(abs(a) for a in aug.rotation_deg))
        aug.rotation_deg = [-limit, limit]
    return aug


def _lowres_and_cascade(inputs: PlanInputs, fullres: Configuration, coverage: float) -> dict[str, Configuration]:
    """A coarser 3d_lowres stage whose patch sees enough of the median image, and the cascade after it."""
    fingerprint, spacing_t = inputs.fingerprint, inputs.spacing_t
    median_mm = inputs.median_t * np.asarray(spacing_t)
    low_spacing = np.asarray(spacing_t, dtype=float)
    sizing = None
    while low_spacing.max() / max(spacing_t) <= LOWRES_MAX_FACTOR:
        # Coarsen the fine axes first, as anisotropic data is already coarse along its thick axis.
        fine = low_spacing < low_spacing.max() * 0.999
        low_spacing = low_spacing * np.where(fine | ~fine.any(), LOWRES_STEP, 1.0)
        median_low = np.maximum(np.round(median_mm / low_spacing), 1)
        sizing = inputs.sized("3d_lowres", 3, low_spacing.tolist(), median_low, with_capacity=False)
        if np.prod(sizing.patch_size) / np.prod(median_low) >= LOWRES_TARGET_COVERAGE:
            break
    lowres = _configuration(
        inputs,
        "3d_lowres",
        3,
        low_spacing.tolist(),
        median_low,
        sizing,
        anisotropic=is_anisotropic(low_spacing.tolist()),
    )
    lowres.reasons.insert(
        0,
        f"3d_fullres patch covers only {coverage:.0%} of the median image: a low-resolution "
        f"stage at spacing {np.round(low_spacing, 3).tolist()} sees "
        f"{min(1.0, np.prod(sizing.patch_size) / np.prod(median_low)):.0%} of it",
    )
    lowres.next_stage = "3d_cascade_fullres"
    cascade = from_dict(Configuration, to_dict(fullres), "3d_fullres")
    cascade.name = "3d_cascade_fullres"
    cascade.previous_stage = "3d_lowres"
    cascade.data_identifier = fullres.data_identifier
    cascade.network.in_channels += len(fingerprint["labels"]) - 1
    cascade.reasons.append("cascade: the 3d_lowres prediction (one-hot, foreground classes) is an extra input")
    return {"3d_lowres": lowres, "3d_cascade_fullres": cascade}
