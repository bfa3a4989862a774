"""One training as an MLflow run: params when it starts, each epoch's metrics as the epoch ends (`on_epoch`), and
when it ends the epochs it did not see live (from history.json), the summary and the artifacts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autoseg.layout.work import PLAN_LOG, TRAIN_LOG, TRAINING_SUMMARY, model_dir
from autoseg.schema.plans import Plans, load_plans
from autoseg.tracking.context import TrackingContext, as_context
from autoseg.tracking.run import TrackedRun, ended
from autoseg.tracking.values import (
    class_names,
    epoch_metrics,
    summary_metrics,
    summary_tags,
    training_params,
)
from autoseg.training.job import TrainingJob
from autoseg.utils.files import read_json

FOLD_ARTIFACTS = ("curves.png", TRAINING_SUMMARY, "history.json", TRAIN_LOG)
WORK_ARTIFACTS = (PLAN_LOG,)


class TrainingTracker:
    def __init__(
        self,
        context: TrackingContext,
        job: TrainingJob,
        plans: Plans | None = None,
        run_name: str | None = None,
        params: dict[str, Any] | None = None,
    ):
        self.job = job
        self.out = model_dir(job.work, job.configuration, job.fold)
        plans = plans or load_plans(job.work)
        self.classes = class_names(plans)
        # A resumed or extended fold: this run logs the epochs it trains (--overwrite starts from none).
        self.first_epoch = 0 if job.overwrite else len(history(self.out))
        self.started = time.time()
        self.logged: set[int] = set()
        self.run = TrackedRun(
            context,
            run_name or job.name,
            tags={"configuration": job.configuration, "fold": job.fold, "kind": "training"},
        )
        self.run.params(
            {**training_params(plans, plans.configuration(job.configuration), job.to_dict()), **(params or {})}
        )

    def on_epoch(self, record: dict[str, Any]) -> None:
        """Log one epoch's record (the trainer's per-epoch hook)."""
        epoch = int(record.get("epoch", len(self.logged)))
        self.run.metrics(epoch_metrics(record, self.classes), step=epoch)
        self.logged.add(epoch)

    def close(self, status: str) -> None:
        epochs = [r for r in history(self.out)[self.first_epoch :] if int(r.get("epoch", -1)) not in self.logged]
        log_fold(self.run, self.out, Path(self.job.work), self.classes, epochs, fold_summary(self.out, self.started))
        self.run.end(status)


def log_fold(
    run: TrackedRun, out: Path, work: Path, classes: list[str], epochs: list[dict[str, Any]], summary: dict[str, Any]
) -> None:
    """What a fold folder holds: epoch records not logged yet, the summary's numbers, the artifacts."""
    for record in epochs:
        run.metrics(epoch_metrics(record, classes), step=int(record.get("epoch", 0)))
    run.metrics(summary_metrics(summary), step=max(int(summary.get("epochs") or 1) - 1, 0))  # the last epoch
    run.tags(summary_tags(summary))
    run.artifacts(out / name for name in FOLD_ARTIFACTS)
    run.artifacts(work / name for name in WORK_ARTIFACTS)


@contextmanager
def tracked_training(
    context: TrackingContext | dict[str, Any] | None,
    job: TrainingJob,
    plans: Plans | None = None,
    run_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """Track the training run inside the block; yields the per-epoch hook (None when not tracking).

    Only one process of a torchrun job logs (rank 0, the one that writes the fold folder)."""
    context = as_context(context)
    if context is None or os.environ.get("RANK", "0") != "0":
        yield None
        return
    tracker = TrainingTracker(context, job, plans, run_name, params)
    with ended(tracker.close):
        yield tracker.on_epoch


def history(out: Path) -> list[dict[str, Any]]:
    path = out / "history.json"
    try:
        return read_json(path, "history") if path.is_file() else []
    except Exception:  # noqa: BLE001 -- unreadable (being replaced): the run logs what it saw live
        return []


def fold_summary(out: Path, since: float = 0.0) -> dict[str, Any]:
    """The training summary this run wrote (one older than the run is an earlier training's)."""
    path = out / TRAINING_SUMMARY
    try:
        return read_json(path, "training summary") if path.is_file() and path.stat().st_mtime >= since else {}
    except Exception:  # noqa: BLE001 -- an unreadable summary is not logged; the training's own result stands
        return {}
