"""How far a time-budgeted training got next to what its plan expected.

A plan turns a time budget into patch, batch and iterations for the CPU it measured (or the speed given with
--cpu-gflops). Trained on a slower machine, the same budget makes fewer iterations, and the model can score
below what the plan's budget gave in the evidence it was chosen on (benchmarks/budget/). Nothing stops such a
run, but its summary and train.log say so, with the way out: plan on this machine, or train the planned amount
as a number of epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoseg.training.budget import Budget

# Below this share of the plan's iterations a run is called short: the planner's estimate is of eager fp32 speed
# and is within ~10-20 % of what a run on the measured CPU makes (benchmarks/budget/results.md: 9,657 planned,
# 9,788 trained), so only a real difference of machine gets this far.
SHORT_FRACTION = 0.67


@dataclass(frozen=True)
class Pace:
    expected_iterations: int  # what the plan expected in this run's time budget
    trained_fraction: float  # iterations trained / expected

    @property
    def short(self) -> bool:
        return self.trained_fraction < SHORT_FRACTION

    def record(self) -> dict[str, float | int]:
        return {"planned_iterations": self.expected_iterations, "planned_fraction": round(self.trained_fraction, 3)}


def planned_pace(tplan, budget: Budget, iterations: int, ended_by_epoch_cap: bool) -> Pace | None:
    """The run's iterations next to the plan's expectation, scaled to the budget it trained (a --time-budget
    that overrides the plan's); None where there is nothing to compare (an epoch budget, a plan without an
    estimate, or a run its plan's epoch cap ended, which trained all it was meant to)."""
    planned_seconds = tplan.time_budget_s
    if ended_by_epoch_cap or not (budget.seconds and planned_seconds and tplan.expected_iterations):
        return None
    expected = tplan.expected_iterations * budget.seconds / planned_seconds
    return Pace(expected_iterations=round(expected), trained_fraction=iterations / max(expected, 1.0))


def short_run_warning(
    pace: Pace, epochs: int, iterations: int, planned_on: str | None, here: str, planned_gflops: float | None = None
) -> str:
    """What train.log says when a run trained well short of its plan, naming both machines, the speed the plan
    assumed (measured there, or given with --cpu-gflops) and the fixes."""
    assumed = f" at ~{planned_gflops:.0f} GFLOP/s" if planned_gflops else ""
    machines = (
        f"the plan was sized on '{planned_on}'{assumed} and this machine is '{here}'"
        if planned_on and planned_on != here
        else f"this machine ('{here}') trains slower than the plan assumed{assumed}"
    )
    planned_epochs = max(epochs + 1, round(epochs / max(pace.trained_fraction, 1e-9)))
    return (
        f"trained {iterations:,} iterations in the time budget where the plan expected ~{pace.expected_iterations:,}"
        f" ({pace.trained_fraction:.0%}): {machines}. A model trained less than planned can score below what its "
        f"budget gave when it was planned; plan again on this machine (`autoseg plan ... --time-budget`), or train "
        f"the planned amount with `--epochs {planned_epochs}`"
    )
