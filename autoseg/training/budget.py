"""How long a training runs: seconds of wall time or a number of epochs, and how --extend adds to it."""

from __future__ import annotations

from dataclasses import dataclass

from autoseg.errors import AutosegError
from autoseg.utils.durations import format_duration, parse_duration


@dataclass
class Budget:
    """Seconds of training wall time, a number of epochs, or both (whichever ends first: a long time budget's
    plan caps its epochs); progress in [0, 1] drives the learning-rate schedule and the progressive phase."""

    seconds: float | None
    epochs: int | None

    def progress(self, elapsed: float, epoch_float: float) -> float:
        parts = []
        if self.seconds:
            parts.append(elapsed / self.seconds)
        if self.epochs:
            parts.append(epoch_float / self.epochs)
        return max(parts)

    def done(self, elapsed: float, epoch: int) -> bool:
        return bool(self.seconds and elapsed >= self.seconds) or bool(self.epochs and epoch >= self.epochs)

    def ended_by_epoch_cap(self, elapsed: float, epoch: int) -> bool:
        """A time budget whose epoch cap (the plan's max_epochs) ended the run with time left."""
        return bool(self.seconds and self.epochs and epoch >= self.epochs and elapsed < self.seconds)

    def describe(self) -> str:
        if self.seconds and self.epochs:
            return f"time budget {format_duration(self.seconds)} or {self.epochs} epochs, whichever ends first"
        return f"time budget {format_duration(self.seconds)}" if self.seconds else f"{self.epochs} epochs"


def planned_budget(tplan, time_budget, epochs) -> Budget:
    """The budget asked for (epochs first, then a time budget), else the plan's. A time budget keeps the plan's
    cap on epochs (max_epochs): more time than the plan needs never trains past the passes over the training
    images where it would overfit (planning/budget_policy.py)."""
    if epochs is not None:
        return Budget(seconds=None, epochs=int(epochs))
    seconds = parse_duration(time_budget) if time_budget is not None else tplan.time_budget_s
    if seconds:
        return Budget(seconds=float(seconds), epochs=tplan.max_epochs)
    return Budget(seconds=None, epochs=tplan.epochs)


def extended_budget(old: Budget, epoch: int, elapsed: float, time_budget, epochs) -> Budget:
    """N more epochs or T more time counted from where the run stopped, whichever way it was budgeted: a
    time-budgeted run has no epoch target to add to, and its elapsed time can overshoot its budget. An
    extension asked for is trained past the plan's epoch cap (a schedule does not extend a capped fold)."""
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
    # A run its epochs ended (a plan's cap) stopped with time left: the extension counts from where it stopped.
    stopped = elapsed if old.ended_by_epoch_cap(elapsed, epoch) else max(old.seconds or 0.0, elapsed)
    return Budget(seconds=stopped + extra, epochs=None)
