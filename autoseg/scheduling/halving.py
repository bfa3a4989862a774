"""Successive halving on pseudo-Dice curves: after each rung keep the better 1/eta of the candidates.

Every candidate has trained the same share on the same fold when it is judged (equal wall time in seconds mode,
equal epochs in epochs mode), so a fast configuration is rewarded for the epochs its speed buys.

The score is the mean raw pseudo-Dice of the epochs in the last third of the candidate's training so far (at
least one epoch), not the trainer's EMA: with a smoothing factor of 0.9 the EMA of a 3-epoch rung still mostly
remembers the first epoch, so it would judge where a candidate started rather than where it got to.

Clearly behind: a candidate scoring less than CLEARLY_BEHIND times the best score is stopped even when the halving
would keep it (a configuration that does not learn, e.g. a learning rate of 0, need not wait for the next rung).

Ties: when the last cut (one survivor left) falls among candidates within TIE_MARGIN of the best score (about the
epoch-to-epoch noise of a pseudo-Dice on a few validation patches), the scores cannot tell them apart, so the one
cheaper to run at inference wins (as find-best chooses between configurations that score alike), and at equal cost
the one earlier in `preference` (nnU-Net's usual order: 3d_fullres before 2d). Measured on Hippocampus
(benchmarks/scheduler/results.md): after 101 s and after 202 s on fold 0, 2d and 3d_fullres scored within 0.008 of
each other on patches, in either order, while on 40 held-out cases 3d_fullres was 0.009 better after 15 minutes:
patch pseudo-Dice does not see the context a 3D network brings to whole volumes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

TIE_MARGIN = 0.01
CLEARLY_BEHIND = 0.5


def smoothed_pseudo_dice(history: list[dict[str, Any]], own_time: Callable[[list], float]) -> float | None:
    """Mean pseudo-Dice of the epochs in the last third of the training time (None without any)."""
    scored = [
        (own_time(history[: i + 1]), e["pseudo_dice"])
        for i, e in enumerate(history)
        if e.get("pseudo_dice") is not None and math.isfinite(e["pseudo_dice"])
    ]
    if not scored:
        return None
    since = scored[-1][0] * 2 / 3
    recent = [d for t, d in scored if t >= since] or [scored[-1][1]]
    return float(sum(recent) / len(recent))


def cut(
    scores: dict[str, float | None], eta: int, costs: dict[str, float], preference: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    """(survivors, stopped name -> why). Candidates without a score (failed, no validation patches) stop first.
    `preference` orders candidates for a tie at equal inference cost (those not in it come after, by score)."""
    ranked = sorted((n for n in scores if scores[n] is not None), key=lambda n: -scores[n])
    keep = max(1, math.ceil(len(scores) / eta))
    survivors = [n for n in ranked[:keep] if scores[n] >= CLEARLY_BEHIND * scores[ranked[0]]]
    tied = [n for n in ranked if scores[ranked[0]] - scores[n] < TIE_MARGIN]
    if keep == 1 and len(tied) > 1:
        rank = {n: i for i, n in enumerate(preference)}
        survivors = [min(tied, key=lambda n: (costs.get(n, 1.0), rank.get(n, len(rank)), -scores[n]))]
    stopped = {}
    best = max((scores[n] for n in survivors), default=None)
    for name in scores:
        if name in survivors:
            continue
        if scores[name] is None:
            stopped[name] = "no pseudo-Dice (the training failed or had no validation patches)"
        elif name in tied and keep == 1:
            stopped[name] = (
                f"pseudo-Dice {scores[name]:.4f}, within {TIE_MARGIN} of {survivors[0]}'s "
                f"{best:.4f}: a tie, which goes to {_tie_reason(name, survivors[0], costs, preference)}"
            )
        elif scores[name] < CLEARLY_BEHIND * best:
            stopped[name] = f"pseudo-Dice {scores[name]:.4f}, less than {CLEARLY_BEHIND} x the best {best:.4f}"
        else:
            stopped[name] = (
                f"pseudo-Dice {scores[name]:.4f} behind {best:.4f} (keeping the best {keep} of {len(scores)})"
            )
    return survivors, stopped


def _tie_reason(loser: str, winner: str, costs: dict[str, float], preference: tuple[str, ...]) -> str:
    if costs.get(loser, 1.0) > costs.get(winner, 1.0):
        return "the cheaper at inference"
    if winner in preference:
        return f"the usual order ({' before '.join(preference)}) at equal inference cost"
    return "the higher score at equal inference cost"
