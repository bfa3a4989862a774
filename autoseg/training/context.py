"""One training as it runs in this process: the job (a value that can travel) next to what cannot travel
(the plan in memory, the process's rank, the per-epoch callbacks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from autoseg.labels import LabelManager, label_manager
from autoseg.schema.plans import Configuration, Plans
from autoseg.training.job import TrainingJob


@dataclass(frozen=True)
class EpochHooks:
    """`report_epoch(epoch, ema)` on every rank (search pruning; may raise to stop the run);
    `on_epoch(record)` on rank 0 with a copy of the epoch's history record (experiment tracking)."""

    report_epoch: Callable[[int, float | None], Any] | None = None
    on_epoch: Callable[[dict[str, Any]], Any] | None = None


@dataclass(frozen=True)
class TrainingRun:
    job: TrainingJob  # checked (launch.py): its fold is "all" or a fold of splits.json
    plans: Plans
    config: Configuration
    out: Path  # the fold folder
    kind: str  # "cpu" or "cuda"
    rank: int = 0
    world: int = 1
    hooks: EpochHooks = field(default_factory=EpochHooks)

    @property
    def work(self) -> Path:
        return Path(self.job.work)

    @property
    def fold(self) -> str:
        return self.job.fold

    @property
    def tplan(self):
        return self.config.training

    @property
    def labels(self) -> LabelManager:
        """Classes or regions and the ignore label: the loss targets, the patch sampling groups, the scores."""
        return label_manager(self.plans)

    @property
    def show_progress(self) -> bool:
        return self.job.progress and self.rank == 0
