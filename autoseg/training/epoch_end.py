"""The end of an epoch: its record (losses, pseudo-Dice and its EMA, lr, speed), then on rank 0 the checkpoints,
history.json, curves.png and the log line, then the per-epoch hooks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autoseg.schema.convert import to_dict
from autoseg.training import distributed
from autoseg.training.checkpoint import BEST, LATEST, rng_state, save_checkpoint
from autoseg.training.context import TrainingRun
from autoseg.training.history import plot_curves, save_history
from autoseg.training.nonfinite_guard import finite_mean
from autoseg.training.setup import TrainingParts
from autoseg.training.state import TrainingState
from autoseg.training.steps import EpochSteps, validate_patches
from autoseg.utils.durations import format_duration
from autoseg.utils.logs import get_logger

log = get_logger("train")

# curves.png is redrawn at most this often (and at the end): drawing takes ~0.2 s, a tenth of a short epoch.
PLOT_EVERY_S = 30.0


class PlotClock:
    """Whether curves.png is due for a redraw."""

    def __init__(self):
        self.last = -PLOT_EVERY_S

    def due(self) -> bool:
        if time.monotonic() - self.last >= PLOT_EVERY_S:
            self.last = time.monotonic()
            return True
        return False


def end_epoch(
    run: TrainingRun, parts: TrainingParts, state: TrainingState, steps: EpochSteps, clock: PlotClock
) -> dict[str, Any]:
    """Validate on patches, record the epoch in `state`, write its outputs, call the hooks; returns the record."""
    record = validate_patches(run, parts)
    # rank 0's clock, so every rank sees the budget spent at the same epoch
    state.elapsed = distributed.broadcast_float(state.elapsed + time.monotonic() - steps.started)
    record.update(
        {
            "epoch": state.epoch,
            "train_loss": distributed.average(finite_mean(steps.losses)),
            "skipped_steps": parts.guard.take_epoch_count(),
            "lr": steps.lr,
            "iterations": state.iteration,
            "elapsed_s": round(state.elapsed, 2),
            "epoch_s": round(time.monotonic() - steps.started, 2),
            "iterations_per_s": round(len(steps.losses) / max(time.monotonic() - steps.started, 1e-9), 3),
        }
    )
    state.add_epoch(record, run.tplan.ema_pseudo_dice)
    if run.rank == 0:
        epoch_outputs(run, parts, state, clock.due())
        if run.hooks.on_epoch is not None:
            run.hooks.on_epoch(dict(record))
    if run.hooks.report_epoch is not None:
        run.hooks.report_epoch(state.epoch, state.ema)
    return record


def epoch_outputs(run: TrainingRun, parts: TrainingParts, state: TrainingState, plot: bool) -> None:
    save_run_checkpoint(run.out / LATEST, run, parts, state)
    if state.improved():
        save_run_checkpoint(run.out / BEST, run, parts, state)
    save_history(run.out, state.history)
    if plot:
        plot_curves(run.out, state.history)
    _log_epoch(state)


def _log_epoch(state: TrainingState) -> None:
    record = state.history[-1]
    dice = record.get("pseudo_dice")
    log.info(
        "epoch %d: loss %.4f%s, lr %.2e, %.1f s (%.2f it/s), %s trained",
        record["epoch"],
        record["train_loss"],
        ""
        if dice is None
        else f", val loss {record['val_loss']:.4f}, pseudo-Dice "
        f"{[round(d, 3) for d in record['pseudo_dice_per_class']]} (smoothed {state.ema:.4f})",
        record["lr"],
        record["epoch_s"],
        record["iterations_per_s"],
        format_duration(state.elapsed),
    )


def save_run_checkpoint(path: Path, run: TrainingRun, parts: TrainingParts, state: TrainingState) -> None:
    """Everything a resume needs, in the on-disk format every autoseg checkpoint has had (a plain dict)."""
    weights = parts.core.state_dict()
    average = parts.average.model.state_dict() if parts.average is not None else None
    budget = parts.budget
    save_checkpoint(
        path,
        {
            "weights": average if average is not None else weights,
            "train_weights": weights,
            "average_weights": average,
            "optimizer": parts.optimizer.state_dict(),
            "network_spec": to_dict(run.config.network),
            "configuration": run.config.name,
            "budget": {"seconds": budget.seconds, "epochs": budget.epochs},
            "rng": rng_state(),
            **state.checkpoint_entries(),
        },
    )
