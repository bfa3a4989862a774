"""What a budget counts: seconds of the job's wall time (the CLI), or epochs of training (tests, quick checks).

In seconds every share is a `--time-budget` of one training, and the whole job (trainings, validations,
find-best) must fit the total; in epochs the total is the sum of the epochs every training runs, so a schedule
is reproducible whatever the machine's speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from autoseg.errors import AutosegError
from autoseg.utils.durations import format_duration, parse_duration

SECONDS, EPOCHS = "seconds", "epochs"


@dataclass(frozen=True)
class Units:
    kind: str  # SECONDS | EPOCHS

    def train_arguments(self, amount: float) -> dict[str, Any]:
        """The keyword arguments of autoseg.training.loop.train for a share of `amount`."""
        return {"time_budget": float(amount)} if self.kind == SECONDS else {"epochs": int(amount)}

    def round(self, amount: float) -> float:
        """Epochs are whole; seconds are kept to a tenth."""
        return float(math.floor(amount + 1e-9)) if self.kind == EPOCHS else round(float(amount), 1)

    def describe(self, amount: float) -> str:
        return format_duration(amount) if self.kind == SECONDS else f"{int(amount)} epochs"

    def own_time(self, history: list[dict[str, Any]]) -> float:
        """How much of this unit a fold has trained, from its history.json."""
        if not history:
            return 0.0
        return float(history[-1]["elapsed_s"]) if self.kind == SECONDS else float(len(history))


def parse_total(total_budget: str | float | None, total_epochs: int | None) -> tuple[Units, float]:
    if (total_budget is None) == (total_epochs is None):
        raise AutosegError(
            "give the schedule one total: a time (--total-budget 1h) or a number of epochs",
            fix="e.g. autoseg train WORK --total-budget 1h",
        )
    if total_epochs is not None:
        if int(total_epochs) < 1:
            raise AutosegError(f"the total number of epochs must be at least 1, not {total_epochs}")
        return Units(EPOCHS), float(total_epochs)
    seconds = parse_duration(total_budget)
    if not seconds or seconds <= 0:
        raise AutosegError(f"--total-budget must be a positive duration, not '{total_budget}'", fix="e.g. 1h")
    return Units(SECONDS), float(seconds)
