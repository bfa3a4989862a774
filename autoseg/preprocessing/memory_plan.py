"""How many cases may be preprocessed at once: workers bounded by memory, not only by cores.

Each worker holds one case from reading to writing; its peak is a few float32 copies of the case at the larger
of its raw and resampled sizes. The estimate below errs high: for the synthetic 512x512x400 int16 CT it says
2.5 GB where one worker peaked at 1.6 GB (benchmarks/resampling/results.md), so such cases go one at a time
under the 4 GB budget and smaller ones (BraTS) two at a time. Headers are read without the voxels, so the
estimate costs milliseconds per case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psutil
import SimpleITK as sitk

from autoseg.data.dataset import Case
from autoseg.schema.plans import Configuration, Plans

# Default ceiling for all preprocessing workers together (the target); half the free RAM if less.
MEMORY_BUDGET_BYTES = 4 * 2**30
# Per voxel of the larger grid (raw or resampled): float32 bytes per channel (image, its crop, normalised and
# resampled copies, one pass of scratch) and per case (labels, masks and class scores of the label resampling).
BYTES_PER_VOXEL_AND_CHANNEL = 12
BYTES_PER_VOXEL = 10
# What a worker process costs before it reads anything (interpreter, torch, numpy, scipy).
WORKER_BASE_BYTES = 350 * 2**20


@dataclass
class WorkerPlan:
    workers: int
    largest_case_bytes: float
    budget_bytes: float

    def words(self) -> str:
        return (
            f"{self.workers} worker(s): the largest case needs ~{self.largest_case_bytes / 2**30:.2f} GB, "
            f"budget {self.budget_bytes / 2**30:.1f} GB for all workers together"
        )


def case_peak_bytes(case: Case, plans: Plans, config: Configuration) -> float:
    """Estimated peak memory of preprocessing `case` for `config`, from its file headers."""
    channels, voxels, spacing = 0, 1, None
    for path in case.image_files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        size = reader.GetSize()
        spatial = size[:3]
        voxels = int(np.prod(spatial))
        channels += int(np.prod(size[3:])) * reader.GetNumberOfComponents()
        spacing = list(reversed(reader.GetSpacing()[:3]))  # numpy order
    if spacing is not None and len(spacing) == 3 and len(config.spacing) == 3:
        spacing_t = [spacing[a] for a in plans.transpose_forward]
        scale = float(np.prod([s / t for s, t in zip(spacing_t, config.spacing)]))
    else:
        scale = 1.0
    grid = voxels * max(1.0, scale)
    return grid * (BYTES_PER_VOXEL_AND_CHANNEL * channels + BYTES_PER_VOXEL) + WORKER_BASE_BYTES


def plan_workers(
    cases: list[Case], plans: Plans, config: Configuration, requested: int, budget_bytes: float | None = None
) -> WorkerPlan:
    """At most `requested` workers, and no more than the budget holds of the largest case at once."""
    if budget_bytes is None:
        budget_bytes = min(MEMORY_BUDGET_BYTES, 0.5 * psutil.virtual_memory().available)
    largest = max((case_peak_bytes(c, plans, config) for c in cases), default=0.0)
    fit = int(budget_bytes // largest) if largest > 0 else requested
    return WorkerPlan(
        workers=max(1, min(requested, fit, len(cases))), largest_case_bytes=largest, budget_bytes=budget_bytes
    )
