"""Training throughput in samples and voxels per second, comparable across tools whose batches differ.

Iterations per second alone compare badly: autoseg's CPU plans train the first part of the budget on smaller
patches with larger batches (progressive resizing), and another tool's batch and patch differ again. Each epoch
in history.json is counted with the patch/batch of the phase its midpoint falls in (the switch happens inside one
epoch, so the split is approximate by at most half an epoch on either side).
"""

from __future__ import annotations

import math
from typing import Any

from autoseg.schema.plans import Configuration


def training_throughput(
    history: list[dict[str, Any]],
    config: Configuration,
    training_seconds: float,
    budget_seconds: float | None = None,
    epochs: int | None = None,
) -> dict[str, float]:
    tplan = config.training
    small_until = tplan.progressive_fraction if tplan.progressive_patch_size else 0.0
    samples = voxels = 0.0
    done_iterations, start_elapsed = 0, 0.0
    for index, record in enumerate(history):
        iterations = record["iterations"] - done_iterations
        if budget_seconds:
            progress = (start_elapsed + record["elapsed_s"]) / 2 / budget_seconds
            if tplan.max_epochs:  # the trainer's progress: time or the plan's epoch cap, whichever leads
                progress = max(progress, (index + 0.5) / tplan.max_epochs)
        else:
            progress = (index + 0.5) / max(epochs or len(history), 1)
        small = progress < small_until
        batch = tplan.progressive_batch_size if small else config.batch_size
        patch = tplan.progressive_patch_size if small else config.patch_size
        samples += iterations * batch
        voxels += iterations * batch * math.prod(patch)
        done_iterations, start_elapsed = record["iterations"], record["elapsed_s"]
    seconds = max(training_seconds, 1e-9)
    return {"samples_per_second": round(samples / seconds, 3), "voxels_per_second": round(voxels / seconds, 1)}
