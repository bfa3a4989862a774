"""A search trial as a run of the study's experiment: the trial's values and its configuration as params, its
epochs, its value (the validation Dice) and its state. Logged when the trial ends, from the trial's Optuna
record and its archived fold folder, so a pruned, failed or not-trained trial is a run too."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from autoseg.schema.plans import Plans
from autoseg.tracking.context import TrackingContext, as_context
from autoseg.tracking.run import TrackedRun
from autoseg.tracking.training import fold_summary, history, log_fold
from autoseg.tracking.values import class_names, flatten
from autoseg.utils.logs import get_logger

log = get_logger("tracking")

# Optuna user attributes that say why a trial ended as it did, or what it cost.
TRIAL_TAGS = ("trial_name", "not_trained", "state_reason", "error", "budget_check", "worker")
TRIAL_METRICS = ("parameters", "gflops_train", "peak_mb_estimate", "seconds_per_iteration_estimate")


def log_trial(
    context: TrackingContext | dict[str, Any], trial: Any, plans: Plans, work: Path, fold_folder: Path | None
) -> None:
    """`trial`: an optuna FrozenTrial that has ended; `fold_folder`: where its training's outputs were kept.
    Never raises: a search goes on whatever happens to its tracking (TrackedRun warns once)."""
    resolved = as_context(context)
    if resolved is None:
        return
    try:
        _log_trial(resolved, trial, plans, work, fold_folder)
    except Exception as error:  # noqa: BLE001 -- a trial record must not end a long search
        log.warning("MLflow: trial %s not logged: %s", trial.number, error)


def _log_trial(context: TrackingContext, trial: Any, plans: Plans, work: Path, fold_folder: Path | None) -> None:
    attrs = trial.user_attrs
    run = TrackedRun(
        context,
        f"trial {trial.number}",
        tags={
            "kind": "trial",
            "trial_number": str(trial.number),
            "trial_state": trial.state.name,
            **{k: str(attrs[k])[:5000] for k in TRIAL_TAGS if k in attrs},
        },
        start_ms=_ms(trial.datetime_start),
    )
    run.params(
        {
            "dataset": plans.dataset_name,
            **{f"trial.{k}": v for k, v in trial.params.items()},
            **flatten(attrs.get("configuration") or {}),
        }
    )
    run.metrics({k: attrs[k] for k in TRIAL_METRICS if isinstance(attrs.get(k), (int, float))})
    epochs = history(fold_folder) if fold_folder is not None else []
    if fold_folder is not None and fold_folder.is_dir():
        log_fold(run, fold_folder, work, class_names(plans), epochs, fold_summary(fold_folder))
    if trial.value is not None:
        run.metrics({"value": trial.value}, step=max(len(epochs) - 1, 0))
    run.end("FAILED" if trial.state.name == "FAIL" else "FINISHED", end_ms=_ms(trial.datetime_complete))


def _ms(when: datetime | None) -> int | None:
    return int(when.timestamp() * 1000) if when is not None else None
