"""One training of a schedule, run so that a killed schedule can pick it up where it stopped.

A step names a configuration, a fold and the total training that fold should have when it ends (`target`, in
the schedule's units), and whether the fold is validated on full images afterwards. What to call is decided from
the fold folder itself: nothing yet -> train; an unfinished run -> resume; a finished one short of the target ->
extend by the difference; a finished one at the target -> nothing (a kill came after the training). A fold
whose validation is missing or older than its model is validated (validate_fold), so find-best sees it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autoseg.layout.work import TRAINING_SUMMARY, VALIDATION, model_dir
from autoseg.scheduling.units import EPOCHS, SECONDS, Units
from autoseg.training.checkpoint import FINAL, LATEST
from autoseg.training.finish import EPOCH_CAP
from autoseg.utils.files import read_json, write_json
from autoseg.utils.logs import get_logger

log = get_logger("schedule")


def history(work: Path, name: str, fold: int | str) -> list[dict[str, Any]]:
    path = model_dir(work, name, fold) / "history.json"
    try:
        return read_json(path, "history") if path.is_file() else []
    except Exception:  # a history being replaced as we read it: judged at the next read
        return []


def own_time(work: Path, name: str, fold: int | str, units: Units) -> float:
    return units.own_time(history(work, name, fold))


def train_call(work: Path, step: dict[str, Any], units: Units) -> dict[str, Any] | None:
    """The keyword arguments of train() this step still needs, or None when its training is done."""
    out = model_dir(work, step["configuration"], step["fold"])
    final, latest = out / FINAL, out / LATEST
    if latest.exists() and (not final.exists() or latest.stat().st_mtime > final.stat().st_mtime):
        return {"resume": True}  # killed in a training or an extension: continue it with its own budget
    if not final.exists():
        return units.train_arguments(step["target"])
    if units.kind == SECONDS and _ended_at_epoch_cap(out):
        return None  # more time would train past the passes where its plan says it overfits (budget_policy.py)
    missing = step["target"] - own_time(work, step["configuration"], step["fold"], units)
    # Seconds: an extension shorter than a tenth of the target, or 5 s, is not worth restarting the loaders for.
    enough = 1 if units.kind == EPOCHS else max(5.0, 0.1 * step["target"])
    if missing < enough:
        return None
    return {"extend": True, **units.train_arguments(units.round(missing))}


def _ended_at_epoch_cap(out: Path) -> bool:
    try:
        return read_json(out / TRAINING_SUMMARY, "training summary").get("ended_by") == EPOCH_CAP
    except Exception:  # no summary (killed before it was written): judged by its time, as before
        return False


def execute(
    work: Path, step: dict[str, Any], units: Units, *, device: str, workers, progress: bool, save, tracking=None
) -> None:
    """Run the step (train/resume/extend, then validation when asked); records times and outcome in `step`
    and calls `save()` before and after, so schedule.json always says what is running. `tracking`: the
    TrackingContext (or its dict) the step's training logs an MLflow run into."""
    from autoseg.tracking.training import tracked_training
    from autoseg.training.job import TrainingJob
    from autoseg.training.loop import train

    name, fold = step["configuration"], step["fold"]
    started = time.monotonic()
    step.setdefault("own_before", own_time(work, name, fold, units))
    step["status"], step["started"] = "running", step.get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")
    call = train_call(work, step, units)
    step["call"] = call
    save()
    if call is not None:
        log.info(
            "schedule: %s %s fold %s (%s): %s",
            "resuming" if call.get("resume") else "extending" if call.get("extend") else "training",
            name,
            fold,
            step["why"],
            call,
        )
        job = TrainingJob(
            str(work),
            name,
            str(fold),
            device=device,
            workers=workers,
            validate=step["validate"],
            progress=progress,
            **call,
        )
        with tracked_training(
            tracking, job, run_name=step["id"], params={"schedule.step": step["id"], "schedule.why": step["why"]}
        ) as on_epoch:
            train(
                work,
                name,
                fold,
                device=device,
                workers=workers,
                validate=step["validate"],
                progress=progress,
                on_epoch=on_epoch,
                **call,
            )
    if step["validate"] and not validation_current(work, name, fold):
        validate_fold(work, name, fold, device, progress)
    step["own_after"] = own_time(work, name, fold, units)
    step["trained"] = round(step["own_after"] - step["own_before"], 2)
    step["wall_seconds"] = round(step.get("wall_seconds", 0.0) + time.monotonic() - started, 1)
    step["status"] = "done"
    save()


def validation_current(work: Path, name: str, fold: int | str) -> bool:
    out = model_dir(work, name, fold)
    summary, final = out / TRAINING_SUMMARY, out / FINAL
    if not (summary.is_file() and final.is_file() and (out / VALIDATION).is_dir()):
        return False
    return (
        summary.stat().st_mtime >= final.stat().st_mtime
        and read_json(summary, "training summary").get("validation_dice") is not None
    )


def validate_fold(work: Path, name: str, fold: int | str, device: str, progress: bool) -> None:
    """Full-image validation of a trained fold (mirror TTA, probabilities saved) by the function train() ends
    with: for a fold trained without it in a rung, or whose validation a kill interrupted."""
    import torch

    from autoseg.inference.models import load_model
    from autoseg.inference.predictor import InferenceSettings
    from autoseg.planning.budget import detect_device
    from autoseg.schema.plans import load_plans
    from autoseg.training.fold_validation import validate_fold_images, validation_cases

    work = Path(work)
    plans = load_plans(work)
    config = plans.configuration(name)
    kind = detect_device(device)
    torch_device = torch.device("cuda", torch.cuda.current_device()) if kind == "cuda" else torch.device("cpu")
    cases = validation_cases(work, plans, config, str(fold))
    model = load_model(work, name, fold, torch_device)
    settings = InferenceSettings(device=torch_device, tta=True)
    entries = validate_fold_images(
        work, plans, config, model, cases, settings, save_probabilities=True, progress=progress
    )
    path = model_dir(work, name, fold) / TRAINING_SUMMARY
    summary = read_json(path, "training summary") if path.is_file() else {}
    summary.update(entries)
    write_json(path, summary)
