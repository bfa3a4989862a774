"""What a training has done so far, as a typed object; checkpoints keep it as plain dict entries (the on-disk
format of every autoseg checkpoint so far), converted here at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class TrainingState:
    epoch: int = 0  # epochs finished
    iteration: int = 0  # optimiser steps taken
    elapsed: float = 0.0  # seconds of training (rank 0's clock), across resumes
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch (history.json)
    best_ema: float = -1.0  # best smoothed pseudo-Dice so far (checkpoint_best.pt)
    ema: float | None = None  # smoothed pseudo-Dice of the last epoch

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> "TrainingState":
        return cls(**{f.name: checkpoint[f.name] for f in fields(cls)})

    def checkpoint_entries(self) -> dict[str, Any]:
        """The state as a checkpoint stores it: one top-level entry per field."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def add_epoch(self, record: dict[str, Any], smoothing: float) -> None:
        """Close an epoch: smooth its pseudo-Dice into the EMA (when it was measured) and keep its record."""
        if record.get("pseudo_dice") is not None:
            self.ema = (
                record["pseudo_dice"]
                if self.ema is None
                else smoothing * self.ema + (1 - smoothing) * record["pseudo_dice"]
            )
            record["pseudo_dice_ema"] = self.ema
        self.history.append(record)
        self.epoch += 1

    def improved(self) -> bool:
        """Whether the last epoch set a new best smoothed pseudo-Dice (and remember it)."""
        if self.ema is not None and self.ema > self.best_ema:
            self.best_ema = self.ema
            return True
        return False
