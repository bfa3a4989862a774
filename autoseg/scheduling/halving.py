"""Successive halving on pseudo-Dice curves: after each rung keep the better 1/eta of the candidates.

Every candidate has trained the same share on the same fold when it is judged (equal wall time in seconds mode,
equal epochs in epochs mode), so a fast configuration is rewarded for the epochs its speed buys.

The score is the mean raw pseudo-Dice of the epochs in the last third of the candidate's training so far (at
least one epoch), not the trainer's EMA: with a smoothing factor of 0.9 the EMA of a 3-epoch rung still mostly
remembers the first epoch, so it would judge where a candidate started rather than where it got to.

Clearly behind: a candidate scoring less than CLEARLY_BEHIND times the best score is stopped even when the halving
would keep it (a configuration that does not learn, e.g. a learning rate of 0, need not wait for the next rung).

Ties: when the last cut (one survivor left) falls between two candidates whose scores differ by less than
TIE_MARGIN (about the epoch-to-epoch noise of a pseudo-Dice on a few validation patches), the one cheaper to run
at inference wins, as find-best would choose between two configurations that score alike.
"""
from __future__ import annotations

import math
from typing import Any, Callable

TIE_MARGIN = 0.01
CLEARLY_BEHIND = 0.5


def smoothed_pseudo_dice(history: list[dict[str, Any]], own_time: Callable[[list], float]) -> float | None:
    """Mean pseudo-Dice of the epochs in the last third of the training time (None without any)."""
    scored = [(own_time(history[:i + 1]), e["pseudo_dice"]) for i, e in enumerate(history)
              if e.get("pseudo_dice") is not None and math.isfinite(e["pseudo_dice"])]
    if not scored:
        return None
    since = scored[-1][0] * 2 / 3
    recent = [d for t, d in scored if t >= since] or [scored[-1][1]]
    return float(sum(recent) / len(recent))


def cut(scores: dict[str, float | None], eta: int, costs: dict[str, float]) -> tuple[list[str], dict[str, str]]:
    """(survivors, stopped name -> why). Candidates without a score (failed, no validation patches) stop first."""
    ranked = sorted((n for n in scores if scores[n] is not None), key=lambda n: -scores[n])
    keep = max(1, math.ceil(len(scores) / eta))
    survivors = [n for n in ranked[:keep] if scores[n] >= CLEARLY_BEHIND * scores[ranked[0]]]
    if keep == 1 and len(ranked) > 1 and scores[ranked[0]] - scores[ranked[1]] < TIE_MARGIN \
            and costs.get(ranked[1], 1.0) < costs.get(ranked[0], 1.0):
        survivors = [ranked[1]]
    stopped = {}
    best = max((scores[n] for n in survivors), default=None)
    for name in scores:
        if name in survivors:
            continue
        if scores[name] is None:
            stopped[name] = "no pseudo-Dice (the training failed or had no validation patches)"
        elif scores[name] >= best:
            stopped[name] = (f"pseudo-Dice {scores[name]:.4f}, within {TIE_MARGIN} of {survivors[0]}'s "
                             f"{best:.4f} but costlier at inference")
        elif scores[name] < CLEARLY_BEHIND * best:
            stopped[name] = f"pseudo-Dice {scores[name]:.4f}, less than {CLEARLY_BEHIND} x the best {best:.4f}"
        else:
            stopped[name] = (f"pseudo-Dice {scores[name]:.4f} behind {best:.4f} "
                             f"(keeping the best {keep} of {len(scores)})")
    return survivors, stopped
