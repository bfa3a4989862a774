"""Pruning: trials report their smoothed pseudo-Dice as intermediate values; a pruner stops the weak ones.

Optuna's pruners compare trials at equal step numbers, so steps must mean the same amount of training in every
trial. With an epoch budget a step is an epoch. With a time budget it is a twentieth of the budget left after the
first epoch: a fast network runs more epochs in the same time, and comparing it at equal epochs would punish
exactly the speed a CPU search looks for; the first epoch holds torch.compile's compilation, which takes seconds
for a network already in the compile cache (the plan's own) and up to a minute for a new one, so counting it
would make every new architecture look behind at the early steps where the pruner decides. After each epoch
every budget step passed since the last report gets the current value.
"""

from __future__ import annotations

import time
from typing import Callable

import optuna

PRUNERS = ("median", "halving", "hyperband", "none")
TIME_STEPS = 20


def make_pruner(name: str, n_steps: int) -> optuna.pruners.BasePruner:
    """median: below the median of finished trials at the same step, after the first fifth of the budget;
    halving: successive halving (asynchronous), rungs every factor 3 of budget; hyperband: several halving
    brackets; none: every trial trains to the end."""
    from autoseg.errors import AutosegError

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(1, n_steps // 5))
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, round(n_steps / 10)), reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=n_steps, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise AutosegError(f"unknown pruner '{name}'", fix=f"use one of {list(PRUNERS)}")


def budget_steps(seconds: float | None, epochs: int | None) -> int:
    return int(epochs) if epochs else TIME_STEPS


class IntermediateReporter:
    """The trainer's `report_epoch(epoch, smoothed_pseudo_dice)`: reports to the trial and raises
    optuna.TrialPruned when the pruner says so (the trainer stops and cleans up)."""

    def __init__(
        self,
        trial: optuna.Trial,
        seconds: float | None = None,
        epochs: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not seconds and not epochs:
            raise ValueError("a trial budget needs seconds or epochs")
        self.trial, self.seconds, self.epochs, self.clock = trial, seconds, epochs, clock
        self.started = clock()
        self.first_epoch_end: float | None = None
        self.last_step = 0

    def step_for(self, epoch: int) -> int:
        if self.epochs:
            return min(epoch, self.epochs)
        now = self.clock()
        if self.first_epoch_end is None:
            self.first_epoch_end = now
            return 0
        left = max(self.seconds - (self.first_epoch_end - self.started), 1e-9)
        return min(TIME_STEPS, int((now - self.first_epoch_end) / left * TIME_STEPS))

    def __call__(self, epoch: int, value: float | None) -> None:
        step = self.step_for(epoch)
        if value is None or step <= self.last_step:
            return
        for s in range(self.last_step + 1, step + 1):
            self.trial.report(float(value), s)
        self.last_step = step
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_step", step)
            raise optuna.TrialPruned(
                f"pruned at step {step} of {budget_steps(self.seconds, self.epochs)} (smoothed pseudo-Dice {value:.4f})"
            )
