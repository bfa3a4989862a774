"""Steps of a schedule handed to an executor together, recorded in schedule.json as each one finishes.

The driver (this process) keeps every decision: it submits the steps one decision allows (a rung's candidates,
the final folds and the low-resolution folds their cascade waits for), records where each ran (node, host,
start, end and every retry: execution/records.py) and whether it succeeded, and decides the next batch only
when the outcomes are in. A failing candidate step is recorded as failed and the schedule goes on; a step that
must succeed (the winner's fold 0, a stage it needs) stops the schedule with its error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoseg.execution.executor import Task
from autoseg.execution.records import placement, stamp_summary
from autoseg.execution.storage_check import check_shared_storage
from autoseg.layout.work import PLANS, TRAINING_SUMMARY, model_dir
from autoseg.scheduling.schedule_file import ScheduleFile
from autoseg.scheduling.step_task import run_step
from autoseg.scheduling.units import Units
from autoseg.utils.logs import get_logger

log = get_logger("schedule")
ATTEMPTS = "schedule_attempts"


@dataclass
class StepSpec:
    id: str
    configuration: str
    fold: int
    target: float
    validate: bool
    why: str
    must_succeed: bool = False
    after: list[str] = field(default_factory=list)  # step ids whose training this step's needs first


def run_steps(
    executor, work: Path, file: ScheduleFile, units: Units, specs: list[StepSpec], options: dict[str, Any]
) -> dict[str, bool]:
    """Run the specs' steps (those not done yet); {step id: succeeded}."""
    ran: dict[str, bool] = {}
    local = executor.where == "local"
    submitted: dict[str, StepSpec] = {}
    for spec in specs:
        step = file.add_step(
            {
                "id": spec.id,
                "configuration": spec.configuration,
                "fold": spec.fold,
                "target": spec.target,
                "validate": spec.validate,
                "why": spec.why,
            }
        )
        if step["status"] in ("done", "failed"):
            ran[spec.id] = step["status"] == "done"
            continue
        if not submitted and not local:
            _check_storage(executor, work, specs)
        payload = {
            "work": str(work),
            "step": step if local else dict(step),
            "units": units.kind,
            **options,
            **({"save": file.save} if local else {"progress": False}),
        }
        if not local:
            step.update({"status": "submitted", "submitted": executor.where})
        executor.submit(
            Task(
                spec.id,
                run_step,
                payload,
                None if local else attempts_path(work, spec.id),
                after=[a for a in spec.after if a in submitted],
            )
        )
        submitted[spec.id] = spec
    file.save()
    for outcome in executor.as_completed():
        ran[outcome.task.name] = _record(work, file, submitted[outcome.task.name], outcome)
    return ran


def attempts_path(work: Path, step_id: str) -> Path:
    return Path(work) / ATTEMPTS / (step_id.replace(":", "_") + ".json")


def _record(work: Path, file: ScheduleFile, spec: StepSpec, outcome) -> bool:
    step = file.step(spec.id)
    if outcome.ok:
        step.update(outcome.value)
    step["ran_on"] = placement(outcome.attempts)
    if outcome.ok:
        if step.get("call") is not None:
            stamp_summary(model_dir(work, spec.configuration, spec.fold) / TRAINING_SUMMARY, outcome.attempts)
        if step["ran_on"]["retries"]:
            log.info(
                "schedule: %s finished on node %s after %d retr%s",
                spec.id,
                str(step["ran_on"]["node_id"])[:12],
                step["ran_on"]["retries"],
                "y" if step["ran_on"]["retries"] == 1 else "ies",
            )
        file.save()
        return True
    error = outcome.error
    if spec.must_succeed:
        file.save()
        raise error
    log.error("schedule: %s failed: %s", spec.id, error)
    step.update({"status": "failed", "error": str(error).splitlines()[0] if str(error) else repr(error)})
    file.save()
    return False


def _check_storage(executor, work: Path, specs: list[StepSpec]) -> None:
    check_shared_storage(
        executor,
        [Path(work) / PLANS],
        sorted({model_dir(work, s.configuration, s.fold).parent for s in specs} | {Path(work) / ATTEMPTS}),
    )
