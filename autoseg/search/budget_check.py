"""Does a trial's network fit the device the plan was sized for? A trial that does not is never trained.

The rule is the planner's own (autoseg.planning.patch_and_batch), read from plans.json `device`:
- GPU: the estimated training memory (mixed precision: weights, gradients and optimiser state in full, half the
  activations) must fit `memory_bytes`.
- CPU: the time per iteration (estimated FLOPs / the measured FLOP/s) must leave at least the preset's minimum
  number of full-patch iterations in the plan's time budget, so the exported configuration trains enough in that budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoseg.errors import AutosegError
from autoseg.networks.cost import estimate_cost
from autoseg.planning.iterations import iterations_in_budget
from autoseg.planning.patch_and_batch import MIXED_PRECISION_ACTIVATION_FACTOR
from autoseg.planning.presets import available_presets, load_preset
from autoseg.schema.plans import Configuration
from autoseg.utils.durations import format_duration

FP32_BYTES = 4


@dataclass
class BudgetCheck:
    fits: bool
    reason: str
    cost: dict[str, Any] = field(default_factory=dict)
    seconds_per_iteration: float | None = None
    memory_bytes: float | None = None
    expected_iterations: int | None = None


def check_budget(config: Configuration, base: Configuration, device: dict[str, Any], preset: str) -> BudgetCheck:
    """Estimate the cost of `config` and judge it against `device` (plans.json); `base` is the configuration the
    planner sized, the reference when the preset's minimum iteration count cannot be read."""
    try:
        cost = estimate_cost(config.network, config.patch_size, config.batch_size)
    except AutosegError as error:
        return BudgetCheck(False, f"the network cannot be built: {error}")
    if device.get("kind") == "cuda":
        return _check_memory(config, cost, device)
    return _check_time(config, base, cost, device, preset)


def _check_memory(config: Configuration, cost: dict[str, Any], device: dict[str, Any]) -> BudgetCheck:
    # estimate_cost counts one optimiser buffer (SGD momentum); AdamW keeps two.
    extra = cost["parameters"] * FP32_BYTES if config.training.optimizer == "adamw" else 0
    memory = (
        cost["parameter_bytes"]
        + extra
        + MIXED_PRECISION_ACTIVATION_FACTOR * (cost["peak_bytes_estimate"] - cost["parameter_bytes"])
    )
    limit = device.get("memory_bytes")
    words = f"~{memory / 2**30:.2f} GiB of GPU memory"
    if not limit:
        return BudgetCheck(
            True, f"{words}; plans.json names no GPU memory budget, not checked", cost, memory_bytes=memory
        )
    fits = memory <= limit
    return BudgetCheck(
        fits, f"{words} {'within' if fits else 'exceeds'} the {limit / 2**30:.2f} GiB budget", cost, memory_bytes=memory
    )


def _check_time(
    config: Configuration, base: Configuration, cost: dict[str, Any], device: dict[str, Any], preset: str
) -> BudgetCheck:
    rate = (device.get("flops_per_s") or {}).get(f"{config.spatial_dims}d")
    budget = device.get("time_budget_s")
    if not rate or not budget:
        return BudgetCheck(True, "plans.json has no measured CPU speed or time budget; not checked", cost)
    usable = budget * device.get("usable_fraction", 0.9)
    seconds = cost["flops_train"] / rate
    iterations = int(usable / seconds)
    minimum = _min_iterations(preset, config.spatial_dims)
    if minimum is None:
        # Without the preset, the planner's own network is the yardstick: it was sized to just fit.
        reference = estimate_cost(base.network, base.patch_size, base.batch_size)["flops_train"] / rate
        minimum = int(usable / reference)
    fits = iterations >= minimum
    t = config.training
    in_all = iterations_in_budget(
        usable,
        seconds,
        config.patch_size,
        config.batch_size,
        progressive_fraction=t.progressive_fraction,
        progressive_patch=t.progressive_patch_size,
        progressive_batch=t.progressive_batch_size,
    )
    words = (
        f"~{seconds:.2f} s per iteration ({cost['gflops_train']:.1f} GFLOP at {rate / 1e9:.0f} GFLOP/s): "
        f"{iterations} full-patch iterations in {format_duration(budget)}, "
        f"{'at least' if fits else 'fewer than'} the {minimum} the plan needs"
        + (f" (~{in_all} counting the smaller patches first)" if in_all != iterations else "")
    )
    return BudgetCheck(fits, words, cost, seconds_per_iteration=seconds, expected_iterations=in_all)


def _min_iterations(preset: str, dims: int) -> int | None:
    # plans.json's preset is a name from a file: only a built-in preset is looked up, never a path it names
    if preset not in available_presets():
        return None
    try:
        return int(load_preset(preset)["cpu"][f"min_iterations_{dims}d"])
    except (AutosegError, KeyError, TypeError, ValueError):
        return None
