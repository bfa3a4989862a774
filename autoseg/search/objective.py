"""One trial: suggest values -> build the trial's configuration -> check the device budget -> train one fold with
pruning -> return the full-image validation Dice (without test-time mirroring, which would take longer than a
short trial's training; trials are compared with each other, and the exported best is retrained and validated
with it).

Trials train into WORK/models/<study>_trial<N>/ (where `train` writes) and are moved to
WORK/search/<study>/trials/ when they end, without checkpoints, so WORK/models holds only real configurations.
Everything a trial decided and measured is kept in its Optuna user attributes (visible in optuna-dashboard), so
a study on a shared database describes itself on every machine.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import optuna

from autoseg.errors import AutosegError
from autoseg.layout.work import SPLITS, model_dir
from autoseg.schema.convert import to_dict
from autoseg.schema.plans import Plans
from autoseg.search.budget_check import check_budget
from autoseg.search.pruning import IntermediateReporter
from autoseg.search.space import SearchSpace
from autoseg.search.trial_config import trial_configuration
from autoseg.training import loop
from autoseg.utils.logs import get_logger

log = get_logger("search")

SUMMARY_ATTRS = (
    "epochs",
    "iterations",
    "training_seconds",
    "iterations_per_second",
    "validation_dice_per_class",
    "validation_tta",
    "validation_seconds",
    "wall_seconds",
    "peak_ram_mb",
)


def trial_name(study: str, number: int) -> str:
    return f"{study}_trial{number}"


@dataclasses.dataclass
class TrialSettings:
    """What every trial of one worker shares."""

    work: Path
    plans: Plans
    base: str  # the configuration the space is laid over (e.g. 3d_fullres)
    study: str
    space: SearchSpace
    fold: str
    seconds: float | None  # per-trial training budget, or
    epochs: int | None  # per-trial epochs
    device: str = "auto"
    workers: str | int | None = None
    progress: bool = True
    archive: Path | None = None  # where finished trial folders go (WORK/search/<study>/trials)


class Objective:
    """Optuna objective; exceptions are recorded on the trial (user attribute `error`) and re-raised for Optuna
    to mark it FAIL, while `study.optimize(catch=...)` keeps the study going."""

    def __init__(self, settings: TrialSettings):
        self.s = settings

    def __call__(self, trial: optuna.Trial) -> float:
        s = self.s
        base = s.plans.configuration(s.base)
        name = trial_name(s.study, trial.number)
        started = time.monotonic()
        try:
            values = s.space.suggest(trial)
            config = trial_configuration(base, values, name)
            check = check_budget(config, base, s.plans.device, s.plans.preset)
            if check.expected_iterations:
                config.training.expected_iterations = check.expected_iterations
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            trial.set_user_attr("values", values)
            _record_plan(trial, name, config, check)
            if not check.fits:
                trial.set_user_attr("not_trained", check.reason)
                raise optuna.TrialPruned(f"not trained: {check.reason}")
            log.info("trial %d: %s", trial.number, _short(values))
            reporter = IntermediateReporter(trial, s.seconds, s.epochs)
            plans = dataclasses.replace(s.plans, configurations={**s.plans.configurations, name: config})
            try:
                summary = loop.train(
                    s.work,
                    name,
                    s.fold,
                    plans=plans,
                    time_budget=s.seconds,
                    epochs=s.epochs,
                    device=s.device,
                    overwrite=True,
                    workers=s.workers,
                    validate=True,
                    save_probabilities=False,
                    progress=s.progress,
                    report_epoch=reporter,
                    validation_tta=False,
                )
            finally:
                self._archive(name)
        except optuna.TrialPruned as pruned:
            trial.set_user_attr("state_reason", str(pruned))
            log.info("trial %d: %s", trial.number, pruned)
            raise
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            trial.set_user_attr("error", message)
            log.error("trial %d failed after %.0f s: %s", trial.number, time.monotonic() - started, message)
            raise
        for key in SUMMARY_ATTRS:
            if key in summary:
                trial.set_user_attr(key, summary[key])
        dice = summary.get("validation_dice")
        if dice is None:
            raise AutosegError(
                f"fold {s.fold} has no validation cases, so a trial has no score",
                s.work / SPLITS,
                "search on a cross-validation fold (-f 0), not 'all'",
            )
        log.info(
            "trial %d: validation Dice %.4f (%d iterations in %.0f s)",
            trial.number,
            dice,
            summary.get("iterations", 0),
            summary.get("training_seconds", 0),
        )
        return float(dice)

    def _archive(self, name: str) -> None:
        """Move the trial's folder out of WORK/models, keeping logs, history, curves and validation results;
        checkpoints are dropped (the exported configuration is trained afresh)."""
        source = model_dir(self.s.work, name, self.s.fold).parent
        if not source.is_dir():
            return
        for checkpoint in source.rglob("*.pt"):
            checkpoint.unlink()
        if self.s.archive is None:
            shutil.rmtree(source, ignore_errors=True)
            return
        target = self.s.archive / name
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))


def _record_plan(trial: optuna.Trial, name: str, config, check) -> None:
    trial.set_user_attr("trial_name", name)
    trial.set_user_attr("configuration", to_dict(config))
    trial.set_user_attr("budget_check", check.reason)
    if check.cost:
        trial.set_user_attr("parameters", check.cost["parameters"])
        trial.set_user_attr("gflops_train", round(check.cost["gflops_train"], 3))
        trial.set_user_attr("peak_mb_estimate", round(check.cost["peak_bytes_estimate"] / 2**20, 1))
    if check.seconds_per_iteration is not None:
        trial.set_user_attr("seconds_per_iteration_estimate", round(check.seconds_per_iteration, 4))


def _short(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
