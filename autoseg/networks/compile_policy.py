"""When the trainer compiles: shared by the trainer and by the planner, which sizes plans at compiled speed.

Compiling costs ~20-40 s per patch shape (less when its on-disk cache is warm), so "auto" compiles only runs
long enough to earn that back (training/compiled.py has the measurements).
"""
from __future__ import annotations

from typing import Any

from autoseg.errors import AutosegError

# Runs shorter than this (seconds of budget, or iterations when trained by epochs) stay eager.
MIN_SECONDS = 300.0
MIN_ITERATIONS = 3000


def use_compile(setting: Any, budget_seconds: float | None, iterations: int | None, deterministic: bool) -> bool:
    """The plan's `training.compile` ("auto", "on"/True, "off"/False) for this run."""
    if setting in (True, "on"):
        return True
    if setting in (False, "off", None):
        return False
    if setting != "auto":
        raise AutosegError(f"unknown training.compile value {setting!r} in plans.json", fix="use auto, on or off")
    if deterministic:
        return False
    if budget_seconds:
        return budget_seconds >= MIN_SECONDS
    return (iterations or 0) >= MIN_ITERATIONS
