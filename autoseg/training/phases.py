"""The training loader for the current phase: small patches first (progressive resizing), then the plan's."""

from __future__ import annotations

from typing import Any

from autoseg.schema.plans import Configuration
from autoseg.training.loader import make_train_loader
from autoseg.utils.logs import get_logger

log = get_logger("train")


class TrainingPhases:
    def __init__(self, config: Configuration, cases, workers: int, seed: int):
        self.config, self.cases, self.workers, self.seed = config, cases, workers, seed
        tplan = config.training
        self.small_until = tplan.progressive_fraction if tplan.progressive_patch_size else 0.0
        self.current: tuple[str, Any] | None = None

    def loader(self, progress: float):
        phase = "small" if progress < self.small_until else "full"
        if self.current is None or self.current[0] != phase:
            self.close()
            tplan = self.config.training
            patch, batch = (
                (tplan.progressive_patch_size, tplan.progressive_batch_size) if phase == "small" else (None, None)
            )
            self.current = (phase, make_train_loader(self.config, self.cases, self.workers, self.seed, patch, batch))
            if phase == "small" or progress > 0:
                log.info(
                    "training on %s patches: %s, batch %d",
                    phase,
                    patch or self.config.patch_size,
                    batch or self.config.batch_size,
                )
        return self.current[1]

    def close(self) -> None:
        if self.current is not None:
            finish = getattr(self.current[1], "_finish", None)
            if finish:
                finish()
            self.current = None
