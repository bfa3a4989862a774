"""`autoseg train` with the closing full-image validation run without mirror TTA (autoseg.train's
validation_tta=False, which the CLI does not expose): on a CPU shared by other jobs, TTA validation of two BraTS
cases took longer than the training itself. The out-of-fold predictions find-best and the cascade use are the
same files, predicted without TTA.

    python benchmarks/brats/train_no_tta_validation.py WORK CONFIGURATION FOLD TIME_BUDGET
"""

import sys

from autoseg.training.loop import train

work, configuration, fold, budget = sys.argv[1:5]
summary = train(work, configuration, fold, time_budget=budget, validation_tta=False)
print(f"validation Dice (no TTA) {summary['validation_dice']}")
