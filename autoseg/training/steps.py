"""The steps of an epoch: optimiser steps on training patches until the epoch or the budget ends, then the
patch-based validation that gives the epoch's pseudo-Dice."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from autoseg.training import distributed
from autoseg.training.context import TrainingRun
from autoseg.training.precision import autocast
from autoseg.training.schedule import learning_rate
from autoseg.training.setup import TrainingParts
from autoseg.training.state import TrainingState
from autoseg.training.validation import confusion_counts, pseudo_dice


@dataclass
class EpochSteps:
    """What an epoch's training steps did: their losses, the last learning rate, when the epoch began."""

    started: float
    losses: list[float] = field(default_factory=list)
    lr: float = 0.0


def train_epoch(run: TrainingRun, parts: TrainingParts, state: TrainingState) -> EpochSteps:
    """An epoch's optimiser steps; fewer than the plan's when the time budget runs out within the epoch."""
    steps = EpochSteps(started=time.monotonic())
    ipe, budget = run.tplan.iterations_per_epoch, parts.budget
    parts.model.train()
    bar = tqdm(range(ipe), desc=f"epoch {state.epoch}", disable=not run.show_progress, leave=False)
    for _ in bar:
        elapsed = distributed.broadcast_float(state.elapsed + time.monotonic() - steps.started)
        if budget.seconds and elapsed >= budget.seconds:
            break
        progress = budget.progress(elapsed, state.epoch + len(steps.losses) / ipe)
        steps.lr = learning_rate(run.tplan.schedule, run.tplan.learning_rate, progress, run.tplan.warmup_fraction)
        steps.losses.append(train_step(run, parts, progress, steps.lr))
        state.iteration += 1
        bar.set_postfix(loss=f"{np.mean(steps.losses[-20:]):.4f}", lr=f"{steps.lr:.2e}")
    bar.close()
    return steps


def train_step(run: TrainingRun, parts: TrainingParts, progress: float, lr: float) -> float:
    """One optimiser step at learning rate `lr` on a batch of the phase `progress` is in; returns its loss."""
    for group in parts.optimizer.param_groups:
        group["lr"] = lr
    data, target = parts.inputs(next(parts.phases.loader(progress)))
    with autocast(parts.device, parts.precision):
        outputs = parts.forward(data)
    loss = parts.loss_fn(outputs if isinstance(outputs, list) else [outputs], target)
    parts.optimizer.zero_grad(set_to_none=True)
    if parts.scaler:
        parts.scaler.scale(loss).backward()
        parts.scaler.unscale_(parts.optimizer)
    else:
        loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(parts.model.parameters(), run.tplan.grad_clip)
    if parts.scaler:
        parts.scaler.step(parts.optimizer)  # the scaler skips non-finite steps itself
        parts.scaler.update()
    elif parts.guard.allows(grad_norm):
        parts.optimizer.step()
    else:
        parts.precision = parts.guard.precision_after_skip(parts.precision)
    if parts.average is not None:
        parts.average.update(parts.core)
    return float(loss.detach())


@torch.no_grad()
def validate_patches(run: TrainingRun, parts: TrainingParts) -> dict[str, Any]:
    """Loss and pseudo-Dice on the plan's number of validation patch batches (per class, or per region)."""
    tplan = run.tplan
    if parts.val_loader is None or tplan.val_iterations <= 0:
        return {"val_loss": None, "pseudo_dice": None, "pseudo_dice_per_class": None}
    model, loss_fn = parts.evaluated, parts.loss_fn
    model.eval()
    counts = 0  # per class, or per region when the plan trains regions (LabelManager.loss_regions)
    losses = []
    for _ in range(tplan.val_iterations):
        data, target = parts.inputs(next(parts.val_loader))
        with autocast(parts.device, parts.precision):
            logits = model(data)
        losses.append(float(loss_fn.loss(logits.float(), target, batch_dice=tplan.batch_dice)))
        counts = counts + confusion_counts(
            logits, target, run.config.network.num_classes, run.labels.loss_regions, run.labels.ignore_label
        )
    per_class = pseudo_dice(counts)
    return {
        "val_loss": distributed.average(float(np.mean(losses))),
        "pseudo_dice": distributed.average(float(np.mean(per_class))),
        "pseudo_dice_per_class": per_class,
    }
