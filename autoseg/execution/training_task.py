"""A TrainingJob as a task: `train WORK -c C -f 0 1 2 --ray ...` submits one per fold.

On a retry (an earlier attempt's node died under it) the task decides from the fold folder itself how to go
on, as a schedule's step does (scheduling/steps.py): an unfinished checkpoint_latest.pt -> resume from it; a
finished model newer than it -> nothing left to do; nothing written -> start as asked. The fold's lock of the
dead attempt was released with its process (utils/locks.py), so the retry takes it over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.execution.executor import Executor, Task
from autoseg.execution.records import lost_attempts, stamp_summary
from autoseg.execution.storage_check import check_shared_storage
from autoseg.layout.work import PLANS, TRAIN_LOG, TRAINING_SUMMARY, model_dir
from autoseg.training.checkpoint import FINAL, LATEST
from autoseg.training.job import TrainingJob
from autoseg.training.launch import run_job
from autoseg.utils.files import read_json
from autoseg.utils.logs import get_logger, log_to_file, remove_handler

log = get_logger("execution")


def attempts_file(job: TrainingJob) -> Path:
    """Beside the fold folder (which --overwrite may delete), on the shared storage."""
    out = model_dir(job.work, job.configuration, job.fold)
    return out.parent / f".{out.name}.attempts.json"


def run_training(payload: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    job = TrainingJob.from_dict(payload["job"])
    lost = lost_attempts(attempts)
    if lost:
        job = continued_job(job, lost, attempts[-1])
        if job is None:
            return read_json(
                model_dir(payload["job"]["work"], payload["job"]["configuration"], payload["job"]["fold"])
                / TRAINING_SUMMARY,
                "training summary",
            )
    from autoseg.tracking.training import tracked_training

    with tracked_training(payload.get("tracking"), job) as on_epoch:  # an MLflow run when --mlflow asks
        return run_job(job, on_epoch=on_epoch)


def continued_job(job: TrainingJob, lost: list[dict[str, Any]], now: dict[str, Any]) -> TrainingJob | None:
    """The job a retry runs, from what the lost attempt left in the fold folder; None when it finished it."""
    out = model_dir(job.work, job.configuration, job.fold)
    final, latest = out / FINAL, out / LATEST
    where = ", ".join(f"attempt {a['attempt']} on node {str(a['node_id'])[:12]} ({a['host']})" for a in lost)
    if latest.exists() and (not final.exists() or latest.stat().st_mtime > final.stat().st_mtime):
        note(
            out,
            f"resuming {job.name} from checkpoint {LATEST}: attempt {now['attempt']} on node "
            f"{str(now['node_id'])[:12]} ({now['host']}); lost: {where}",
        )
        return job.with_(resume=True, extend=False, overwrite=False, init_from=None, time_budget=None, epochs=None)
    if final.exists() and (out / TRAINING_SUMMARY).is_file():
        note(out, f"{job.name} had finished before its node was lost ({where}); nothing to redo")
        return None
    note(out, f"restarting {job.name} from the start: the lost attempt ({where}) left no checkpoint")
    return job


def note(out: Path, message: str) -> None:
    """Into the fold's train.log (the file people read) as well as the task's own log."""
    handler = log_to_file(out / TRAIN_LOG)
    try:
        log.info(message)
    finally:
        remove_handler(handler)


def training_tasks(jobs: list[TrainingJob], recorded: bool = True, tracking=None) -> list[Task]:
    """`recorded`: keep an attempts file per fold (on a cluster; in this process there is one attempt).
    `tracking`: the TrackingContext each training logs an MLflow run into (it travels with the task)."""
    # On a cluster no progress bars: Ray forwards every worker's output to the driver, interleaved.
    return [
        Task(
            job.name,
            run_training,
            {
                "job": (job.with_(progress=False) if recorded else job).to_dict(),
                "tracking": tracking.to_dict() if tracking else None,
            },
            attempts_file(job) if recorded else None,
        )
        for job in jobs
    ]


def run_jobs(executor: Executor, jobs: list[TrainingJob], tracking=None):
    """Run the jobs (side by side where the executor can); yields (job, summary) as each finishes, its summary
    stamped with where it ran. A failed job raises its own error."""
    by_name = {job.name: job for job in jobs}
    check_shared_storage(
        executor,
        [Path(jobs[0].work) / PLANS],
        sorted({model_dir(j.work, j.configuration, j.fold).parent for j in jobs}),
    )
    for task in training_tasks(jobs, recorded=executor.where != "local", tracking=tracking):
        executor.submit(task)
    for outcome in executor.as_completed():
        summary = outcome.result()
        job = by_name[outcome.task.name]
        path = model_dir(job.work, job.configuration, job.fold) / TRAINING_SUMMARY
        if summary:  # {} on the other ranks of a torchrun training: rank 0 writes the summary
            stamp_summary(path, outcome.attempts)
            summary = read_json(path, "training summary") if path.is_file() else summary
        yield job, summary
