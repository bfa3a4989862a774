"""Steps with a NaN or infinite gradient are skipped, not taken.

Seen on CPU: fine-tuning loaded weights under bf16 autocast produced a NaN gradient at the third AdamW step in one
run of two (benchmarks/finetune/results.md); one such step turns every weight into NaN and the rest of the run
trains nothing (Dice 0.000 after 1,503 iterations). fp16 on CUDA has its GradScaler for this; bf16 and fp32 have
nothing, so this guard skips the step, and when low precision keeps producing them it finishes the run in fp32
(the training summary then says fp32, so predict runs the model in fp32 too).
"""

from __future__ import annotations

import math

import torch

from autoseg.utils.logs import get_logger

log = get_logger("train")

FALLBACK_AFTER = 5  # consecutive skipped steps in a low precision before the rest of the run goes fp32


class NonFiniteGuard:
    def __init__(self, fallback_after: int = FALLBACK_AFTER):
        self.fallback_after = fallback_after
        self.in_a_row = 0
        self.epoch_count = 0
        self.total = 0

    def allows(self, grad_norm: torch.Tensor | float) -> bool:
        """True when the step may be taken (the clipped gradient's norm is finite)."""
        if math.isfinite(float(grad_norm)):
            self.in_a_row = 0
            return True
        self.in_a_row += 1
        self.epoch_count += 1
        self.total += 1
        return False

    def precision_after_skip(self, precision: str) -> str:
        """The precision to go on in after a skipped step: fp32 once a low precision has skipped
        `fallback_after` steps in a row."""
        if precision != "fp32" and self.in_a_row >= self.fallback_after:
            log.warning(
                "%d training steps in a row had a non-finite gradient in %s: continuing in fp32",
                self.in_a_row,
                precision,
            )
            self.in_a_row = 0
            return "fp32"
        if self.total in (1, 10, 100, 1000):
            log.warning(
                "skipped a training step with a non-finite gradient (%d so far, precision %s)", self.total, precision
            )
        return precision

    def take_epoch_count(self) -> int:
        count, self.epoch_count = self.epoch_count, 0
        return count


def finite_mean(values: list[float]) -> float:
    """The mean of the finite values (NaN when there are none, so a broken epoch still shows as broken)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(sum(finite) / len(finite)) if finite else math.nan
