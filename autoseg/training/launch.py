"""Starting a training job in this process: its arguments checked before anything is written, one writer per
fold folder (a lock), the folder prepared for the way the run starts, train.log opened, then the trainer."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

from autoseg.errors import AutosegError
from autoseg.layout.work import TRAIN_LOG, model_dir
from autoseg.planning.budget import detect_device
from autoseg.schema.plans import Configuration, Plans, load_plans
from autoseg.training import distributed
from autoseg.training.context import EpochHooks, TrainingRun
from autoseg.training.dataset import out_of_fold_predictions
from autoseg.training.fold_folder import prepare_output
from autoseg.training.folds import check_fold, fold_cases
from autoseg.training.init_from import check_init_source
from autoseg.training.job import TrainingJob
from autoseg.training.trainer import run_training
from autoseg.utils.files import remove_partial_writes
from autoseg.utils.locks import output_lock
from autoseg.utils.logs import log_to_file, remove_handler


def launch(job: TrainingJob, plans: Plans | None = None, hooks: EpochHooks | None = None) -> dict[str, Any]:
    """Train and validate one fold; returns the run summary (also written to fold_k/training_summary.json)."""
    work = Path(job.work)
    plans = plans or load_plans(work)
    config = plans.configuration(job.configuration)
    job = _checked(job, work, plans, config)
    out = model_dir(work, job.configuration, job.fold)
    kind = detect_device(job.device)
    rank, world = distributed.setup(kind)
    run = TrainingRun(job, plans, config, out, kind, rank, world, hooks or EpochHooks())
    # One writer per fold folder: a second training of this fold is refused naming the first (issue 20).
    with output_lock(out, "training fold") if rank == 0 else nullcontext():
        if rank == 0:
            prepare_output(out, job.resume, job.extend, job.overwrite)
            remove_partial_writes(out)  # a killed run's half-written checkpoint
        distributed.barrier()
        handler = log_to_file(out / TRAIN_LOG) if rank == 0 else None
        try:
            return run_training(run)
        finally:
            if handler:
                remove_handler(handler)


def _checked(job: TrainingJob, work: Path, plans: Plans, config: Configuration) -> TrainingJob:
    """The job with its fold and workers checked, refused before any folder is made when it cannot run."""
    job = job.with_(fold=check_fold(work, job.fold), workers=check_workers(job.workers))
    if config.previous_stage:  # before the fold folder is made: a missing previous-stage fold leaves nothing behind
        out_of_fold_predictions(work, plans, config, [c for ids in fold_cases(work, job.fold) for c in ids])
    if job.overwrite and (job.resume or job.extend):
        raise AutosegError(
            "--overwrite deletes the run that --resume/--extend would continue",
            model_dir(work, job.configuration, job.fold),
            "pass only one of them",
        )
    if job.init_from:
        check_init_source(job.init_from, job.resume or job.extend)
    return job


def check_workers(workers):
    if workers is None or workers == "auto":
        return workers
    try:
        count = int(workers)
    except (TypeError, ValueError):
        count = -1
    if count < 0:
        raise AutosegError(
            f"--workers must be a whole number >= 0 or 'auto', not '{workers}'",
            fix="e.g. --workers 1 (0 augments in the training process)",
        )
    return count


def run_job(
    job: TrainingJob,
    *,
    plans: Plans | None = None,
    report_epoch: Callable[[int, float | None], Any] | None = None,
    on_epoch: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """Run one training job in this process; returns its training summary. `report_epoch(epoch, ema)` and
    `on_epoch(record)` are the per-epoch hooks of train() (pruning; experiment tracking)."""
    return launch(job, plans, EpochHooks(report_epoch=report_epoch, on_epoch=on_epoch))
