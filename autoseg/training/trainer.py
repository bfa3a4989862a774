"""The trainer: setup -> for each epoch: its training steps -> end of epoch (record, checkpoint, hooks) until
the budget is spent -> finish (final checkpoint, full-image validation, summary).

Its parts are plain objects chosen from the plan: the network (registry), the loss (losses.py), the batches
(sampling + augmentation in background processes), the optimiser and the learning-rate schedule laid over the
budget. Every epoch: patch-based validation (pseudo-Dice), a JSON record, curves.png and checkpoint_latest.pt;
at the end: checkpoint_final.pt and full-image validation.
"""

from __future__ import annotations

import time
from typing import Any

from autoseg.training.context import TrainingRun
from autoseg.training.epoch_end import PlotClock, end_epoch
from autoseg.training.finish import finish
from autoseg.training.setup import set_up
from autoseg.training.steps import train_epoch


def run_training(run: TrainingRun) -> dict[str, Any]:
    """Train one fold in this process (one rank of it under torchrun); returns the run summary."""
    parts, state = set_up(run)
    started, clock = time.monotonic(), PlotClock()
    try:
        while not parts.budget.done(state.elapsed, state.epoch):
            steps = train_epoch(run, parts, state)
            if not steps.losses:
                break
            end_epoch(run, parts, state, steps, clock)
    finally:
        parts.phases.close()  # also when report_epoch stops the run (search pruning)
    return finish(run, parts, state, started)
