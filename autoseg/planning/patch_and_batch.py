"""Patch size, batch size and network width sized to the device budget.

Start from the median image (the whole object in view), then shrink the patch axis that covers the most of the
median image until one training step fits: into GPU memory, or into the time per iteration that leaves the CPU
enough iterations within its time budget. Spare budget goes into the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autoseg.networks.cost import estimate_cost
from autoseg.planning.budget import DeviceBudget
from autoseg.planning.topology import Topology, feature_widths, topology_for_patch
from autoseg.schema.network import NetworkSpec

# GPU training runs in mixed precision: activations take about half their fp32 size.
MIXED_PRECISION_ACTIVATION_FACTOR = 0.5


@dataclass
class Sizing:
    patch_size: list[int]
    batch_size: int
    topology: Topology
    network: NetworkSpec
    cost: dict[str, Any]
    seconds_per_iteration: float | None
    reasons: list[str]
    # A second plan for the same budget where the budget policy has no evidence to choose (budget_policy.py);
    # the planner writes it as a variant configuration, and the scheduler's halving decides between the two.
    alternative: Sizing | None = None
    # A long budget's capacity variant (capacity_variant.py): the reference patch and batch with a residual encoder.
    capacity: Sizing | None = None
    # Where a long budget would overfit (budget_policy.py): training stops after this many iterations, which take
    # about `training_seconds` of the budget.
    max_iterations: int | None = None
    training_seconds: float | None = None


def make_network_spec(
    topology: Topology,
    spatial_dims: int,
    in_channels: int,
    num_classes: int,
    settings: dict[str, Any],
    architecture: str,
) -> NetworkSpec:
    cap = settings["max_features_3d"] if spatial_dims == 3 else settings["max_features_2d"]
    return NetworkSpec(
        architecture=architecture,
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        num_classes=num_classes,
        features=feature_widths(topology.num_stages, settings["base_features"], cap),
        kernel_sizes=topology.kernel_sizes,
        strides=topology.strides,
        blocks_per_stage=stage_blocks(settings["blocks_per_stage"], topology.num_stages),
        decoder_blocks=settings["decoder_blocks"],
    )


def stage_blocks(setting: int | list[int], num_stages: int) -> list[int]:
    """A preset's blocks_per_stage for each encoder stage: one count for all, or a list per stage as nnU-Net's
    residual-encoder presets give ([1, 3, 4, 6, 6, 6]); a shorter list repeats its last count."""
    if isinstance(setting, int):
        return [setting] * num_stages
    blocks = [int(b) for b in setting][:num_stages]
    return blocks + [blocks[-1]] * (num_stages - len(blocks))


def size_to_budget(
    spacing: list[float],
    median_shape: list[float],
    *,
    in_channels: int,
    num_classes: int,
    budget: DeviceBudget,
    settings: dict[str, Any],
    architecture: str,
    min_edge: int,
    max_stages: int,
    dataset_voxels: float,
    flops_per_s: float | None = None,
) -> Sizing:
    dims = len(spacing)
    median = np.maximum(np.asarray(median_shape, dtype=float), 1)
    cap = settings["max_patch_voxels_3d"] if dims == 3 else settings["max_patch_pixels_2d"]
    patch = _initial_patch(median, spacing, cap)
    min_batch = settings["min_batch_3d"] if dims == 3 else settings["min_batch_2d"]

    def evaluate(patch_size: list[int], batch: int):
        fitted, topology = topology_for_patch(spacing, patch_size, min_edge, max_stages)
        spec = make_network_spec(topology, dims, in_channels, num_classes, settings, architecture)
        return fitted, topology, spec, estimate_cost(spec, fitted, batch)

    fits = _fits_function(budget, settings, dims, flops_per_s)
    reasons = [
        f"start from the median image {np.round(median).astype(int).tolist()} voxels"
        + (f", capped at {cap} voxels" if np.prod(median) > cap else "")
    ]
    (fitted, topology, spec, cost), shrinks = _shrink_until_fits(
        evaluate(patch, min_batch), median, min_edge, evaluate, fits, min_batch
    )
    if shrinks:
        reasons.append(
            f"shrunk the patch {shrinks} time(s) to fit the {budget.kind} budget ("
            + _budget_words(budget, settings, dims)
            + ")"
        )
    if not fits(cost, min_batch):
        reasons.append(
            f"the smallest patch {fitted} still misses the {budget.kind} budget ("
            + _budget_words(budget, settings, dims)
            + "): expect "
            + ("more GPU memory than allowed" if budget.kind == "cuda" else "fewer iterations than planned")
        )
    max_batch = _max_batch(budget, settings, dims, fitted, dataset_voxels)
    batch, cost = _grow_batch(spec, fitted, (min_batch, max_batch), fits, cost)
    reasons.append(
        f"patch {fitted}, batch {batch}: {cost['gflops_train']:.1f} GFLOP and "
        f"~{cost['peak_bytes_estimate'] / 2**20:.0f} MiB per training step"
    )
    seconds = cost["flops_train"] / flops_per_s if flops_per_s else None
    if seconds is not None and budget.time_budget_s:
        reasons.append(
            f"this CPU trains at ~{flops_per_s / 1e9:.0f} GFLOP/s: ~{seconds:.2f} s per "
            f"iteration, ~{int(budget.time_budget_s * budget.usable_fraction / seconds)} full-patch "
            f"iterations in {budget.time_budget_s / 60:.0f} min"
        )
    return Sizing(fitted, batch, topology, spec, cost, seconds, reasons)


def _shrink_until_fits(start, median: np.ndarray, min_edge: int, evaluate, fits, min_batch: int):
    """Shrink the patch axis that covers the most of the median image until a step fits; returns the last
    (patch, topology, network, cost) and how many shrinks it took."""
    fitted, topology, spec, cost = start
    shrinks, seen, frozen = 0, {tuple(fitted)}, set()
    while not fits(cost, min_batch) and not all(p <= 4 * min_edge for p in fitted):
        axis = _axis_to_shrink(fitted, median, min_edge, frozen)
        if axis is None:
            break
        # Shrink by one stride multiple (at least 10%); rounding to the network's strides may undo it.
        step = max(topology.total_stride[axis], int(0.1 * fitted[axis]))
        patch = list(fitted)
        patch[axis] = max(fitted[axis] - step, min_edge)
        candidate = evaluate(patch, min_batch)
        if tuple(candidate[0]) in seen:
            frozen.add(axis)
            continue
        fitted, topology, spec, cost = candidate
        seen.add(tuple(fitted))
        shrinks += 1
    return (fitted, topology, spec, cost), shrinks


def _grow_batch(spec: NetworkSpec, patch: list[int], batch_range: tuple[int, int], fits, cost: dict[str, Any]):
    """The largest batch in batch_range whose step still fits, and that step's cost."""
    batch, max_batch = batch_range
    while batch < max_batch:
        bigger = estimate_cost(spec, patch, batch + 1)
        if not fits(bigger, batch + 1):
            break
        batch += 1
        cost = bigger
    return batch, cost


def _axis_to_shrink(fitted: list[int], median: np.ndarray, min_edge: int, frozen: set[int]) -> int | None:
    """The axis whose patch covers most of the median image among those that can still shrink, or None."""
    shrinkable = [a for a in range(len(fitted)) if fitted[a] > min_edge and a not in frozen]
    if not shrinkable:
        return None
    return max(shrinkable, key=lambda a: fitted[a] / median[a])


def _initial_patch(median: np.ndarray, spacing: list[float], cap: float) -> list[int]:
    patch = median.copy()
    if np.prod(patch) > cap:
        # Keep the physical aspect ratio of the median image while shrinking its volume to the cap.
        patch = patch * (cap / np.prod(patch)) ** (1 / len(patch))
        patch = np.minimum(patch, median)
    return [int(round(p)) for p in patch]


def _fits_function(budget: DeviceBudget, settings: dict[str, Any], dims: int, flops_per_s: float | None):
    if budget.kind == "cuda":

        def fits(cost, batch):
            memory = cost["parameter_bytes"] + MIXED_PRECISION_ACTIVATION_FACTOR * (
                cost["peak_bytes_estimate"] - cost["parameter_bytes"]
            )
            return memory <= budget.memory_bytes

        return fits
    min_iterations = settings["min_iterations_3d"] if dims == 3 else settings["min_iterations_2d"]
    allowed = budget.time_budget_s * budget.usable_fraction / min_iterations

    def fits(cost, batch):
        return cost["flops_train"] / flops_per_s <= allowed

    return fits


def _budget_words(budget: DeviceBudget, settings: dict[str, Any], dims: int) -> str:
    if budget.kind == "cuda":
        return f"{budget.memory_bytes / 2**30:.1f} GB of GPU memory"
    n = settings["min_iterations_3d"] if dims == 3 else settings["min_iterations_2d"]
    return f"at least {n} iterations in {budget.time_budget_s / 60:.0f} min"


def _max_batch(
    budget: DeviceBudget, settings: dict[str, Any], dims: int, patch: list[int], dataset_voxels: float
) -> int:
    if budget.kind == "cuda":
        # nnU-Net's cap: one batch sees at most 5% of the dataset's voxels, so it does not overfit small datasets.
        limit = settings["max_batch_fraction_of_dataset"] * dataset_voxels / float(np.prod(patch))
        return max(settings["min_batch_3d"] if dims == 3 else settings["min_batch_2d"], int(limit))
    return settings["max_batch_3d"] if dims == 3 else settings["max_batch_2d"]
