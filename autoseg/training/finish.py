"""The end of a training: checkpoint_final.pt, curves.png, full-image validation and training_summary.json."""

from __future__ import annotations

import resource
import time
from typing import Any

from autoseg.inference.models import LoadedModel
from autoseg.inference.precision import inference_precision
from autoseg.inference.predictor import InferenceSettings
from autoseg.layout.work import TRAINING_SUMMARY
from autoseg.planning.budget import cpu_name
from autoseg.training import distributed
from autoseg.training.checkpoint import FINAL
from autoseg.training.context import TrainingRun
from autoseg.training.epoch_end import save_run_checkpoint
from autoseg.training.fold_validation import validate_fold_images
from autoseg.training.history import plot_curves
from autoseg.training.init_from import init_from_record
from autoseg.training.pace import planned_pace, short_run_warning
from autoseg.training.setup import TrainingParts
from autoseg.training.state import TrainingState
from autoseg.utils.durations import format_duration
from autoseg.utils.files import write_json
from autoseg.utils.logs import get_logger

log = get_logger("train")


# training_summary.json "ended_by" of a time-budgeted run its plan's max_epochs ended first: a schedule does not
# extend it (scheduling/steps.py).
EPOCH_CAP = "epoch cap"


def finish(run: TrainingRun, parts: TrainingParts, state: TrainingState, started: float) -> dict[str, Any]:
    """Write the final model and the run's summary (rank 0; other ranks return {} once the ranks agree)."""
    agree = distributed.ranks_agree(parts.core)
    if run.rank != 0:
        return {}
    plot_curves(run.out, state.history)
    save_run_checkpoint(run.out / FINAL, run, parts, state)
    summary = _summary(run, parts, state, agree)
    log.info(
        "finished: %d epochs, %d iterations in %s (%.2f it/s)",
        state.epoch,
        state.iteration,
        format_duration(state.elapsed),
        summary["iterations_per_second"],
    )
    if summary["ended_by"] == EPOCH_CAP:
        log.info(
            "stopped at the plan's cap of %d epochs with %s of the time budget left: more passes over the "
            "training images would overfit (plans.json training.max_epochs; --extend trains past it)",
            state.epoch,
            format_duration(max(0.0, (parts.budget.seconds or 0.0) - state.elapsed)),
        )
    _compare_with_plan(run, parts, state, summary)
    if run.job.validate and parts.val_cases:
        # The precision `predict --precision auto` will run this model in, so cross-validation scores (and
        # find-best's choices) are those of the predictions users get.
        settings = InferenceSettings(
            device=parts.device,
            tta=run.job.validation_tta,
            precision=inference_precision("auto", parts.device, [parts.precision]),
        )
        loaded = LoadedModel(run.fold, parts.evaluated.eval(), run.config.network)
        summary.update(
            validate_fold_images(
                run.work,
                run.plans,
                run.config,
                loaded,
                parts.val_cases,
                settings,
                save_probabilities=run.job.save_probabilities,
                progress=run.show_progress,
            )
        )
    summary.update(init_from_record(run.out))
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    write_json(run.out / TRAINING_SUMMARY, summary)
    return summary


def _summary(run: TrainingRun, parts: TrainingParts, state: TrainingState, agree: bool) -> dict[str, Any]:
    config = run.config
    return {
        "configuration": config.name,
        "fold": run.fold,
        "device": run.kind,
        "processes": run.world,
        "precision": parts.precision,
        "compiled": parts.forward.is_compiled,
        "epochs": state.epoch,
        "iterations": state.iteration,
        "training_seconds": round(state.elapsed, 1),
        "iterations_per_second": round(state.iteration / max(state.elapsed, 1e-9), 3),
        "patch_size": config.patch_size,
        "batch_size": config.batch_size,
        "peak_ram_mb": round(_peak_ram_mb(), 1),
        "budget": parts.budget.describe(),
        "ended_by": EPOCH_CAP if parts.budget.ended_by_epoch_cap(state.elapsed, state.epoch) else "budget",
        "ranks_agree": agree,
    }


def _compare_with_plan(run: TrainingRun, parts: TrainingParts, state: TrainingState, summary: dict[str, Any]) -> None:
    """Record how much of the plan's expected training the run made, and warn when a slower machine made a
    lot less (training/pace.py)."""
    capped = summary["ended_by"] == EPOCH_CAP
    pace = planned_pace(run.tplan, parts.budget, state.iteration, capped)
    if pace is None:
        return
    summary.update(pace.record())
    if pace.short:
        device = run.plans.device
        planned_on = device.get("name") if device.get("kind") == "cpu" else None
        rate = (device.get("flops_per_s") or {}).get(f"{run.config.spatial_dims}d")
        here = cpu_name() if run.kind == "cpu" else run.kind
        log.warning(
            short_run_warning(pace, state.epoch, state.iteration, planned_on, here, rate / 1e9 if rate else None)
        )


def _peak_ram_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0
