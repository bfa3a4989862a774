"""Where the rest of the budget goes once the halving has a winner.

The rule: models of at least one *unit* each, as many folds as fit, the time shared equally.

- The unit is the training the plan was sized for (plans.json training.time_budget_s: the planner chose the
  patch so that this budget holds enough iterations), or, for a plan without one, its epochs at the winner's
  measured speed; in epochs mode it is the plan's training.epochs.
- With M = what is left (less the start-up each training costs beyond its budget, measured on the exploration's
  steps) plus what the winner's fold 0 has already trained, k = min(folds, floor(M / unit)).
  k <= 1: all of it extends fold 0 (one longer model). k >= 2: folds 0..k-1 get M / k each (fold 0 is extended
  to it), and predict ensembles them (find-best's choice keeps every fold the winner has).

Why: on Hippocampus one fold trained 60 instead of 15 minutes gains 0.003 Dice (README, benchmarks/training):
past the planned budget a longer run pays little, while an ensemble of folds is the most reliable gain nnU-Net
reports, each extra fold adds held-out cases to find-best's choice of postprocessing, and the folds' models
see different training cases. A final model on all cases (`-f all`) is not used: it has no validation cases,
so neither find-best nor this schedule could check it, and its gain over a fold ensemble is unmeasured here.
The benchmark in benchmarks/scheduler/ measures this rule against "all of it on one fold".
"""
from __future__ import annotations

import math
from typing import Any


def spend_rest(remaining: float, winner_done: float, unit: float, folds: int) -> tuple[list[dict[str, Any]], str]:
    """Per fold: {"fold": k, "target": total own training of that fold}. `remaining` is what the schedule may
    still spend on training, `winner_done` what fold 0 of the winner has trained already."""
    total = max(0.0, remaining) + winner_done
    k = min(folds, math.floor(total / unit)) if unit > 0 else 1
    if k <= 1:
        return [{"fold": 0, "target": total}], (
            f"{total:.1f} left for the winner holds fewer than two units of {unit:.1f} (the plan's training): "
            "one longer model on fold 0")
    each = total / k
    reason = (f"{total:.1f} left for the winner holds {k} units of {unit:.1f} (the plan's training): folds "
              f"0-{k - 1} at {each:.1f} each, ensembled at prediction")
    return [{"fold": f, "target": each} for f in range(k)], reason
