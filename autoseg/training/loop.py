"""`autoseg train`: one configuration, one fold, within a time budget or a number of epochs.

train() is the keyword API: it makes a TrainingJob (job.py) of its arguments and runs it. The trainer's steps
live in their own modules: launch.py (checks, lock, fold folder), setup.py, steps.py, epoch_end.py, finish.py,
with the loop itself in trainer.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.schema.plans import Plans
from autoseg.training.job import TrainingJob
from autoseg.training.launch import run_job


def train(
    work: str | Path,
    configuration: str,
    fold: int | str = 0,
    *,
    time_budget: str | float | None = None,
    epochs: int | None = None,
    device: str = "auto",
    resume: bool = False,
    extend: bool = False,
    overwrite: bool = False,
    deterministic: bool = False,
    workers: str | int | None = None,
    validate: bool = True,
    save_probabilities: bool = True,
    progress: bool = True,
    plans: Plans | None = None,
    report_epoch=None,
    validation_tta: bool = True,
    init_from: str | Path | None = None,
    on_epoch=None,
) -> dict[str, Any]:
    """Train and validate one fold; returns the run summary (also written to fold_k/training_summary.json).

    `validation_tta`: mirror test-time augmentation in the full-image validation (the search turns it off: it
    multiplies validation time by up to 8 for a few thousandths of Dice that every trial would gain alike).
    `report_epoch(epoch, pseudo_dice_ema)` is called after every epoch (the search uses it for pruning); it may
    raise to stop the run. `on_epoch(record)` receives each epoch's JSON record (a copy of its history.json
    entry: losses, pseudo-Dice and its EMA, lr, iterations/s, epoch, elapsed) on rank 0, after the epoch's
    checkpoint is written (experiment tracking). `init_from`: a model or checkpoint whose matching weights start
    the run (init_from.py).
    """
    job = TrainingJob(
        work=str(work),
        configuration=configuration,
        fold=str(fold),
        time_budget=time_budget,
        epochs=epochs,
        device=device,
        resume=resume,
        extend=extend,
        overwrite=overwrite,
        deterministic=deterministic,
        workers=workers,
        validate=validate,
        save_probabilities=save_probabilities,
        validation_tta=validation_tta,
        init_from=init_from,
        progress=progress,
    )
    return run_job(job, plans=plans, report_epoch=report_epoch, on_epoch=on_epoch)
