"""Learning-rate schedules over *progress* (0 -> 1), so the same schedule is laid over a number of epochs or over
a time budget: with a budget, progress is elapsed training time / budget, and the learning rate reaches ~0
exactly when time runs out."""

from __future__ import annotations

import math

from autoseg.errors import AutosegError


def learning_rate(schedule: str, base: float, progress: float, warmup_fraction: float = 0.0) -> float:
    progress = min(max(progress, 0.0), 1.0)
    if warmup_fraction > 0 and progress < warmup_fraction:
        return base * (0.1 + 0.9 * progress / warmup_fraction)
    if schedule == "poly":
        return base * (1 - progress) ** 0.9
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "constant":
        return base
    raise AutosegError(
        f"unknown schedule '{schedule}' in plans.json (training.schedule)", fix="use poly, cosine or constant"
    )
