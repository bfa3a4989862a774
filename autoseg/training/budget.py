"""How long a training runs: seconds of wall time or a number of epochs, and how --extend adds to it."""

from __future__ import annotations

from dataclasses import dataclass

from autoseg.errors import AutosegError
from autoseg.utils.durations import format_duration, parse_duration


@dataclass
class Budget:
    """Either seconds of training wall time or a number of epochs; progress in [0, 1] drives the schedule."""

    seconds: float | None
    epochs: int | None

    def progress(self, elapsed: float, epoch_float: float) -> float:
        if self.seconds:
            return elapsed / self.seconds
        return epoch_float / self.epochs

    def done(self, elapsed: float, epoch: int) -> bool:
        return elapsed >= self.seconds if self.seconds else epoch >= self.epochs

    def describe(self) -> str:
        return f"time budget {format_duration(self.seconds)}" if self.seconds else f"{self.epochs} epochs"


def planned_budget(tplan, time_budget, epochs) -> Budget:
    """The budget asked for (epochs first, then a time budget), else the plan's."""
    if epochs is not None:
        return Budget(seconds=None, epochs=int(epochs))
    seconds = parse_duration(time_budget) if time_budget is not None else tplan.time_budget_s
    if seconds:
        return Budget(seconds=float(seconds), epochs=None)
    return Budget(seconds=None, epochs=tplan.epochs)


def extended_budget(old: Budget, epoch: int, elapsed: float, time_budget, epochs) -> Budget:
    """N more epochs or T more time counted from where the run stopped, whichever way it was budgeted: a
    time-budgeted run has no epoch target to add to, and its elapsed time can overshoot its budget."""
    if epochs is not None:
        if int(epochs) <= 0:
            raise AutosegError(f"--extend --epochs must be at least 1, not {epochs}", fix="e.g. --epochs 50")
        return Budget(seconds=None, epochs=epoch + int(epochs))
    extra = parse_duration(time_budget)
    if not extra:
        raise AutosegError(
            "--extend needs --time-budget or --epochs saying how much more to train",
            fix="e.g. --extend --time-budget 10m",
        )
    return Budget(seconds=max(old.seconds or 0.0, elapsed) + extra, epochs=None)
