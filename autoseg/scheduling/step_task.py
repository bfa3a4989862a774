"""A schedule's step as an executor task: the training (train, resume or extend, as the fold folder says:
steps.train_call) and its full-image validation, on whichever node the executor chose.

In this process (the local executor) the step is the schedule's own record and `save` writes schedule.json as
the step goes, as it always has (torchrun's other ranks follow `call` from it); on a Ray node the step is a copy,
returned to the driver, which records it. A retry after a lost node finds the fold folder as the lost attempt
left it, so train_call resumes from checkpoint_latest.pt; the fold's train.log says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.execution.records import lost_attempts
from autoseg.execution.training_task import note
from autoseg.layout.work import model_dir
from autoseg.scheduling.steps import execute, train_call
from autoseg.scheduling.units import Units


def run_step(payload: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    work, step, units = Path(payload["work"]), payload["step"], Units(payload["units"])
    lost = lost_attempts(attempts)
    if lost:
        _note_retry(work, step, units, lost, attempts[-1])
    execute(
        work,
        step,
        units,
        device=payload["device"],
        workers=payload["workers"],
        progress=payload["progress"],
        save=payload.get("save") or (lambda: None),
        tracking=payload.get("tracking"),
    )
    return step


def _note_retry(work: Path, step: dict[str, Any], units: Units, lost, now) -> None:
    call = train_call(work, step, units)
    what = (
        "resuming from checkpoint checkpoint_latest.pt"
        if call and call.get("resume")
        else "its training was finished; validating"
        if call is None
        else f"starting again ({call})"
    )
    lost_on = ", ".join(f"attempt {a['attempt']} on node {str(a['node_id'])[:12]}" for a in lost)
    note(
        model_dir(work, step["configuration"], step["fold"]),
        f"schedule: {step['id']} {what}: attempt "
        f"{now['attempt']} on node {str(now['node_id'])[:12]} ({now['host']}); lost: {lost_on}",
    )
