"""How a CPU time budget longer than the reference one is spent: iterations first, the patch only up to context.

The sizing rule (patch_and_batch.py) was set at the reference budget of 15 minutes, where it holds up on every
dataset measured. Applied as is to a longer budget it grows the patch and keeps about the same number of
iterations, and the held-out Dice fell (benchmarks/scheduler: ISBI 0.821 at 15 min, 0.813 at 30, 0.805 at 1 h;
Hippocampus level at 0.876). So beyond the reference budget:
- the plan starts from the reference plan (same patch, batch and network) and the extra time buys iterations;
- the patch may grow past the reference patch only where the reference patch does not yet cover the structures'
  context (structure_extent.py, times CONTEXT_MARGIN), never past it; then the extra time is split evenly (in log
  terms) between a bigger step and more iterations, and the plan must still promise at least the reference plan's
  iterations. The reference plan goes along as a variant (Sizing.alternative): no measurement yet says
  which of the two is better there, so the scheduler lets a rung decide;
- iterations stop at MAX_PASSES passes over the training images (never below the reference plan's): past that
  the extra time overfits (ISBI's 4-hour plan, ~600 passes, lost to its 1-hour one, ~140). The rest of the
  budget is the scheduler's, for more folds (`autoseg train WORK --total-budget`);
- the reference plan with a residual encoder goes along as a capacity variant (capacity_variant.py), trained to
  the same cap, unless it would make fewer iterations than the reference plan.
GPU plans are sized to memory, not time, and are not touched here.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from autoseg.planning.budget import DeviceBudget
from autoseg.planning.patch_and_batch import Sizing

REFERENCE_BUDGET_S = 15 * 60
# A patch twice the structure's extent sees a whole structure wherever it sits in the patch, with its neighbours.
CONTEXT_MARGIN = 2.0
# The extent is a percentile, not a hard edge: a patch within 10% of the context covers it.
COVERED_FRACTION = 0.9
# A grown patch must add at least this factor of voxels; less (the strides rounding a few voxels) would only
# spend the time on a bigger batch, which no evidence supports yet.
MIN_GROWTH = 1.1

# Sampled patch voxels over the training images' voxels, progressive phase included. Measured (benchmarks/budget,
# fold 0, held-out cases): ISBI gained from 33 (15 min) to 136 passes (1 h), its 4-hour run's validation curve
# peaked at ~155 and its final model (~600) lost 0.005 to the hour's; Hippocampus gained from 25 to 105.
MAX_PASSES = 150.0
# The capped training's time budget is a backstop: the plan's epochs end it first unless the machine is slower.
CAP_TIME_MARGIN = 1.15

SizeFunction = Callable[[DeviceBudget, np.ndarray], Sizing]
# The reference plan's capacity variant (capacity_variant.py), or None where the preset asks for none.
CapacityFunction = Callable[[Sizing], Sizing | None]
IterationsFunction = Callable[[Sizing, float], int]  # planned iterations of a sizing within a budget (s)
# Per training iteration of a sizing, on average over the progressive phase: (passes over the training
# images, seconds of budget); the planner knows the dataset's size and the phases.
PerIterationFunction = Callable[[Sizing], tuple[float, float]]


def reference_budget_s(settings: dict) -> float:
    return float(settings.get("reference_budget_s", REFERENCE_BUDGET_S))


def max_passes(settings: dict) -> float:
    value = settings.get("max_passes")
    return float(MAX_PASSES if value is None else value)


def is_long_budget(budget: DeviceBudget, settings: dict) -> bool:
    return budget.kind == "cpu" and bool(budget.time_budget_s) and budget.time_budget_s > reference_budget_s(settings)


def context_patch(extent_mm: list[float] | None, spacing: list[float], median: np.ndarray) -> np.ndarray | None:
    """The patch (voxels at `spacing`) that covers the structures' context, no larger than the median image; None
    when the fingerprint measured no structures (then the patch does not grow past the reference one)."""
    if not extent_mm:
        return None
    dims = len(spacing)
    extent = np.asarray(extent_mm[-dims:], dtype=float)
    return np.minimum(np.ceil(CONTEXT_MARGIN * extent / np.asarray(spacing, dtype=float)), median)


def size_long_budget(
    budget: DeviceBudget,
    settings: dict,
    median: np.ndarray,
    context: np.ndarray | None,
    *,
    size: SizeFunction,
    iterations: IterationsFunction,
    per_iteration: PerIterationFunction,
    capacity: CapacityFunction | None = None,
) -> Sizing:
    """The plan for a budget beyond the reference one. `size(budget, median)` sizes a plan for a budget with the
    patch starting from (at most) `median`; `iterations(sizing, seconds)` is what the plan would promise;
    `capacity(reference)` is the reference plan with more capacity, which goes along as a variant."""
    reference_s = reference_budget_s(settings)
    reference = size(dataclasses.replace(budget, time_budget_s=reference_s), median)
    floor = iterations(reference, reference_s)
    stronger = capacity(reference) if capacity is not None else None  # before the policy's reasons are added
    chosen = _patch_and_batch(budget, reference_s, reference, median, context, size=size, iterations=iterations)
    if stronger is not None:
        chosen.capacity = _with_floor(stronger, iterations(stronger, budget.time_budget_s), floor, chosen)
    cap = max_passes(settings)
    for sizing in (chosen, chosen.alternative, chosen.capacity) if cap > 0 else ():
        if sizing is not None:
            planned = iterations(sizing, budget.time_budget_s)
            _cap_iterations(sizing, planned, floor, per_iteration(sizing), budget, cap)
    return chosen


def _patch_and_batch(
    budget: DeviceBudget,
    reference_s: float,
    reference: Sizing,
    median: np.ndarray,
    context: np.ndarray | None,
    *,
    size: SizeFunction,
    iterations: IterationsFunction,
) -> Sizing:
    """The reference plan, or where the evidence allows a patch grown toward the structures' context."""
    ratio = budget.time_budget_s / reference_s
    words = f"the budget ({budget.time_budget_s / 60:.0f} min) is {ratio:.1f}x the reference {reference_s / 60:.0f} min"
    ceiling = _ceiling(reference.patch_size, context)
    if ceiling is None or context is None:
        return _keep(
            reference,
            words + ": no structure extent measured, so the patch stays the reference plan's "
            f"{reference.patch_size} and the extra time buys iterations",
        )
    covers = f"the structures' context ({_voxels(context)} voxels, {CONTEXT_MARGIN:g}x their extent in the fingerprint)"
    if all(p >= COVERED_FRACTION * c for c, p in zip(ceiling, reference.patch_size)):
        return _keep(
            reference,
            words + f": the reference patch {reference.patch_size} already covers {covers}, "
            "so the extra time buys iterations, not a bigger patch",
        )
    # Where the patch may grow, the extra time is split evenly in log terms: the patch is sized as for the
    # geometric mean of the two budgets (a step costs up to sqrt(ratio) more) and iterations grow by sqrt(ratio).
    split_s = float(np.sqrt(budget.time_budget_s * reference_s))
    grown = size(dataclasses.replace(budget, time_budget_s=split_s), np.minimum(median, ceiling))
    if np.prod(grown.patch_size) < MIN_GROWTH * np.prod(reference.patch_size):
        return _keep(
            reference,
            words + f": the reference patch {reference.patch_size} nearly covers {covers} and "
            "the network's strides leave no patch in between, so the extra time buys iterations",
        )
    if iterations(grown, budget.time_budget_s) < iterations(reference, reference_s):
        return _keep(
            reference,
            words + f": a patch growing toward {covers} would make fewer iterations than the "
            "reference plan, so the patch stays and the time buys iterations",
        )
    grown.reasons.append(
        words + f": the reference patch {reference.patch_size} does not cover {covers}, so the "
        f"time is split: the patch grows toward it as for a {split_s / 60:.0f}-min budget "
        f"({grown.patch_size}, capped there) and iterations grow ~{np.sqrt(ratio):.1f}x"
    )
    # No dataset measured so far had a reference patch short of its context, so which plan is better here is
    # not known: the reference plan goes along as a variant, for a scheduler's rung to decide.
    reference.reasons.append(
        words + f": a variant that keeps the reference patch {reference.patch_size}, which does not cover "
        f"{covers}, and spends the extra time on iterations; the measurements behind the budget policy "
        "(benchmarks/budget) do not tell whether growing the patch pays here, so `autoseg train WORK "
        "--total-budget` lets a rung of its halving decide between this plan and the grown one"
    )
    grown.alternative = reference
    return grown


def _with_floor(variant: Sizing, planned: int, floor: int, chosen: Sizing) -> Sizing | None:
    """The capacity variant, unless it would make fewer iterations than the reference plan (the guard)."""
    if planned >= floor:
        return variant
    chosen.reasons.append(
        f"no capacity variant: its larger network would make ~{planned} iterations in this budget, fewer than the "
        f"reference plan's ~{floor}"
    )
    return None


def _cap_iterations(
    sizing: Sizing,
    planned: int,
    floor: int,
    per_iteration: tuple[float, float],
    budget: DeviceBudget,
    max_passes: float,
) -> None:
    """Stop at `max_passes` passes over the training images, but never below the reference plan's iterations."""
    passes, seconds = per_iteration
    if passes <= 0:
        return
    limit = max(floor, int(max_passes / passes))
    if limit >= planned:
        _cap_for_a_faster_machine(sizing, planned, limit, passes, max_passes)
        return
    assert budget.time_budget_s
    estimate = limit * seconds if seconds > 0 else budget.time_budget_s * limit / planned
    sizing.max_iterations = limit
    sizing.training_seconds = min(budget.time_budget_s, CAP_TIME_MARGIN * estimate)
    sizing.reasons.append(
        f"~{planned} iterations would sample ~{planned * passes:.0f} passes over the training images; "
        f"past ~{max_passes:g} passes the extra time overfits (benchmarks/budget: ISBI's 4-hour plan, ~600 passes, "
        "lost 0.005 held-out Dice to its 1-hour plan, ~140), so training stops after "
        f"~{limit} iterations (~{limit * passes:.0f} passes, ~{estimate / 60:.0f} min here"
        + (", the reference plan's iterations" if limit == floor and floor * passes > max_passes else "")
        + "); `autoseg train WORK --total-budget` spends the rest of a budget on more folds"
    )


def _cap_for_a_faster_machine(sizing: Sizing, planned: int, limit: int, passes: float, max_passes: float) -> None:
    """The time budget ends this plan before the cap, at the CPU rate it assumed; the cap still holds should the
    machine train faster than that: a pinned --cpu-gflops, a machine busy while measuring, or plans.json moved to
    another CPU (a plan pinned at 100 GFLOP/s trains ~2x as fast as it assumed on a Zen 4 with bf16)."""
    sizing.max_iterations = limit
    sizing.reasons.append(
        f"~{planned} iterations sample ~{planned * passes:.0f} passes over the training images, within the "
        f"~{max_passes:g} where more overfits; should this machine train faster than measured, training still "
        f"stops after ~{limit} iterations"
    )


def _ceiling(reference_patch: list[int], context: np.ndarray | None) -> list[int] | None:
    if context is None:
        return None
    return [int(max(p, c)) for p, c in zip(reference_patch, context)]


def _voxels(context: np.ndarray) -> list[int]:
    return [int(c) for c in context]


def _keep(reference: Sizing, reason: str) -> Sizing:
    reference.reasons.append(reason)
    return reference
