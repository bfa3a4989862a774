"""How many training iterations a CPU time budget buys, counting the progressive phase.

The planner sizes the full patch so that at least the preset's minimum number of full-patch steps fit the budget
(the floors were set that way, in measured runs). The progressive phase then spends its share of the budget on
smaller patches and bigger batches, whose steps cost about their share of voxels; leaving it out told users ~864
iterations for a run that made 1478-1884 (Hippocampus, 15 min, 2-core EPYC).
"""

from __future__ import annotations

import math


def progressive_share(
    patch: list[int], batch: int, progressive_patch: list[int], progressive_batch: int | None
) -> float:
    """Voxels of a progressive step over a full step's (what it costs and samples, relative to a full step)."""
    return (math.prod(progressive_patch) * (progressive_batch or batch)) / (math.prod(patch) * batch)


def iterations_in_budget(
    usable_seconds: float,
    seconds_per_iteration: float,
    patch: list[int],
    batch: int,
    *,
    progressive_fraction: float = 0.0,
    progressive_patch: list[int] | None = None,
    progressive_batch: int | None = None,
) -> int:
    """Iterations in `usable_seconds` when a full-patch step takes `seconds_per_iteration`. A progressive step is
    costed by its voxels per batch, linearly: small steps use the cores a little less well, so this errs low."""
    if not progressive_patch or progressive_fraction <= 0:
        return int(usable_seconds / seconds_per_iteration)
    small_step = seconds_per_iteration * progressive_share(patch, batch, progressive_patch, progressive_batch)
    return int(
        usable_seconds * progressive_fraction / small_step
        + usable_seconds * (1 - progressive_fraction) / seconds_per_iteration
    )
