"""Where the rest of the budget goes once the halving has a winner.

The rule: models of at least one *unit* each, as many folds as fit, the time shared equally.

- The unit is the training the plan was sized for (plans.json training.time_budget_s: the planner chose the
  patch so that this budget holds enough iterations; for a long budget whose plan caps its epochs, about the
  time those take, so the rest goes to more folds, and a fold its cap ended is not extended), or, for a plan
  without one, its epochs at the winner's measured speed; in epochs mode it is the plan's training.epochs.
- With M = what is left (less the start-up each training costs beyond its budget, measured on the exploration's
  steps) plus what the winner's fold 0 has already trained, k = min(folds, floor(M / unit)).
  k <= 1: all of it extends fold 0 (one longer model). k >= 2: folds 0..k-1 get M / k each (fold 0 is extended
  to it), and predict ensembles them (find-best's choice keeps every fold the winner has).
- On W workers (in seconds: the executor's count, run.py) the same rule per worker: the folds are dealt to W
  lanes of the time left, so W folds train at once, each up to the whole time left (spend_rest).

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


def spend_rest(
    remaining: float, winner_done: float, unit: float, folds: int, workers: int = 1
) -> tuple[list[dict[str, Any]], str]:
    """Per fold: {"fold": k, "target": total own training of that fold}. `remaining` is what the schedule may
    still spend on training (wall time), `winner_done` what fold 0 of the winner has trained already, `workers`
    how many trainings the executor runs at the same time.

    On W workers the folds are dealt round-robin to W lanes, each lane `remaining` long (fold 0's lane also
    holds what fold 0 has trained already), and every fold gets the same target: the shortest lane's share.
    So W folds train side by side in the time one would, instead of the schedule ending with W - 1 workers
    idle and budget unspent. k is the most folds whose share is still at least one unit; with one worker this
    is the one-lane rule above (total / k each)."""
    workers = max(1, int(workers))
    k = (
        max((n for n in range(2, folds + 1) if _share(n, remaining, winner_done, workers) >= unit), default=1)
        if unit > 0
        else 1
    )
    if k <= 1:
        total = max(0.0, remaining) + winner_done
        return [{"fold": 0, "target": total}], (
            f"{total:.1f} left for the winner holds fewer than two units of {unit:.1f} (the plan's training)"
            + (f" on any of {workers} workers" if workers > 1 else "")
            + ": one longer model on fold 0"
        )
    each = _share(k, remaining, winner_done, workers)
    side = f", {min(k, workers)} side by side on {workers} workers" if workers > 1 else ""
    reason = (
        f"{max(0.0, remaining) * workers + winner_done:.1f} left for the winner holds {k} units of "
        f"{unit:.1f} (the plan's training): folds 0-{k - 1} at {each:.1f} each{side}, ensembled at "
        "prediction"
    )
    return [{"fold": f, "target": each} for f in range(k)], reason


def waves(folds: int, workers: int) -> int:
    """How many trainings one after the other the busiest worker runs for `folds` folds on `workers` workers."""
    return math.ceil(folds / max(1, int(workers)))


def _share(k: int, remaining: float, winner_done: float, workers: int) -> float:
    """Each of k folds' target: the shortest lane's time over its folds (lane 0 holds fold 0's head start)."""
    lanes = min(k, workers)
    counts = [len(range(lane, k, workers)) for lane in range(lanes)]
    time = [max(0.0, remaining) + (winner_done if lane == 0 else 0.0) for lane in range(lanes)]
    return min(t / c for t, c in zip(time, counts))
