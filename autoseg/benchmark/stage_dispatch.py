"""`benchmark --ray`: one dataset's stages handed to the executor, each where the cluster has room.

The dataset's own task is a driver (no CPU: side_by_side.py) that runs the stages in the order the data needs:
verify, plan, then every training stage (configuration x fold) at once as its own TrainingJob
(execution/training_task.py: retried on another node when its node dies, resuming from its checkpoint), each
cascade fold waiting only for the low-resolution folds it learns from; then find-best once all are in; then
predict and evaluate. A command stage (verify, plan, find-best, predict, evaluate, a schedule) runs as today, an
`autoseg` command in its own process with its time and memory measured (stage.py), but on the node Ray chose;
predict and plan take a training's resources, the light ones one CPU, a schedule none (it is itself a driver
that hands its trainings to the cluster). Every stage's record says where it ran (node, host, retries).
Without an executor none of this runs: dataset_run.py runs the stages one after the other in this process.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from autoseg.benchmark.stage import StageResult, TreeMemorySampler, autoseg_command, run_stage
from autoseg.errors import AutosegError
from autoseg.execution.executor import DRIVER, LIGHT, TRAINING, Executor, Task
from autoseg.execution.records import placement
from autoseg.execution.training_task import run_training, training_tasks
from autoseg.layout.work import TRAIN_LOG, model_dir
from autoseg.training.job import TrainingJob

MIB = 2**20
HEAVY = ("plan", "predict")  # stages that compute as much as a training: they take a training's resources


def stage_kind(name: str) -> str:
    if name == "schedule":
        return DRIVER
    return TRAINING if name.split(" ")[0] in HEAVY else LIGHT


def command_stage(payload: dict[str, Any], attempts) -> dict[str, Any]:
    """A command stage on the node Ray chose (this node's interpreter runs an autoseg verb)."""
    command = list(payload["command"])
    if command[1:3] == ["-m", "autoseg.cli"]:
        command[0] = sys.executable
    return run_stage(payload["name"], command, payload["log"]).to_dict()


def run_stage_on(
    executor: Executor, name: str, command: list[str], log_path: Path
) -> tuple[StageResult, dict[str, Any]]:
    """Run one command stage through the executor and wait for it: (its result, where it ran)."""
    executor.submit(
        Task(
            f"stage {name}",
            command_stage,
            {"name": name, "command": [str(c) for c in command], "log": str(log_path)},
            log_path.with_name(log_path.name + ".attempts.json"),
            kind=stage_kind(name),
        )
    )
    outcome = next(iter(executor.as_completed()))
    if not outcome.ok:  # the stage's own failure is its exit code; this is a task Ray could not run
        raise AutosegError(
            f"stage '{name}' could not run on the cluster: {outcome.error}",
            log_path,
            "check that every node sees the report folder and has autoseg installed",
        )
    return StageResult(**outcome.value), placement(outcome.attempts)


def training_stage(payload: dict[str, Any], attempts) -> dict[str, Any]:
    """One training stage in this (Ray worker) process, timed, its peak memory sampled as a stage's is."""
    started = time.monotonic()
    with TreeMemorySampler(os.getpid()) as sampler:
        summary = run_training(payload, attempts)
    return {
        "summary": summary,
        "seconds": round(time.monotonic() - started, 2),
        "peak_ram_mb": round(sampler.peak_pss / MIB, 1),
        "peak_rss_sum_mb": round(sampler.peak_rss / MIB, 1),
    }


def training_jobs(
    work: Path, folds: dict[str, list[int]], time_budget, epochs: int | None, device: str
) -> list[TrainingJob]:
    """The jobs of `autoseg train WORK -c NAME -f FOLD --device D [--epochs E | --time-budget T]`, in order."""
    budget = None if epochs is not None else time_budget
    return [
        TrainingJob(str(work), name, str(fold), time_budget=budget, epochs=epochs, device=device, progress=False)
        for name, name_folds in folds.items()
        for fold in name_folds
    ]


def training_stage_tasks(
    jobs: list[TrainingJob], previous: dict[str, str | None], splits: list[dict], tracking=None
) -> list[Task]:
    """A task per job; a cascade's fold waits for the folds of its previous stage that hold out its training
    cases (its out-of-fold inputs), and nothing else waits."""
    from autoseg.training.dataset import previous_stage_folds

    names = {(job.configuration, job.fold): job.name for job in jobs}
    tasks = training_tasks(jobs, recorded=True, tracking=tracking)
    for job, task in zip(jobs, tasks):
        task.function = training_stage
        stage = previous.get(job.configuration)
        if stage:
            task.after = [
                names[(stage, str(f))]
                for f in previous_stage_folds(splits, [int(job.fold)])
                if (stage, str(f)) in names
            ]
    return tasks


def train_side_by_side(executor: Executor, tasks: list[Task], records: list[dict], report_dir: Path) -> None:
    """Submit every training stage, wait for all, append their stage records in the order submitted; raise the
    first failure (as a failed stage does) once every training has ended."""
    for task in tasks:
        executor.submit(task)
    outcomes = {o.task.name: o for o in executor.as_completed()}
    failed = None
    for task in tasks:
        outcome = outcomes[task.name]
        job = TrainingJob.from_dict(task.payload["job"])
        log = model_dir(job.work, job.configuration, job.fold) / TRAIN_LOG
        value = outcome.value or {}
        records.append(
            {
                "name": f"train {job.configuration} fold {job.fold}",
                "command": autoseg_command("train", job.work, "-c", job.configuration, "-f", job.fold),
                "seconds": value.get("seconds", 0.0),
                "peak_ram_mb": value.get("peak_ram_mb", 0.0),
                "peak_rss_sum_mb": value.get("peak_rss_sum_mb", 0.0),
                "returncode": 0 if outcome.ok else 1,
                "log": str(Path(os.path.relpath(log, report_dir))),
                "ran_on": placement(outcome.attempts),
            }
        )
        if not outcome.ok and failed is None:
            failed = AutosegError(
                f"stage 'train {job.configuration} fold {job.fold}' failed: {outcome.error}",
                log,
                "read the training's log",
            )
    if failed is not None:
        raise failed
