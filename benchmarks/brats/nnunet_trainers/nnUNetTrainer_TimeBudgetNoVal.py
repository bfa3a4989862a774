"""nnU-Net's time-budget trainer (benchmarks/nnunet/trainers) without the final full-image validation.

The BraTS side-by-side needs only a checkpoint to time nnUNetv2_predict with: nnU-Net's closing validation
predicts every validation case with mirror TTA, which takes longer on 2 CPU cores than the whole training.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "nnunet" / "trainers"))
from nnUNetTrainer_TimeBudget import nnUNetTrainer_TimeBudget  # noqa: E402


class nnUNetTrainer_TimeBudgetNoVal(nnUNetTrainer_TimeBudget):
    def perform_actual_validation(self, save_probabilities: bool = False):
        self.print_to_log_file("final validation skipped: this run only provides a checkpoint for timing predict")
