"""Run by tests/test_scheduler_torchrun.py under torchrun: one schedule of TOTAL epochs in WORK, every rank."""

import sys

from autoseg.scheduling import schedule

if __name__ == "__main__":
    schedule(sys.argv[1], total_epochs=int(sys.argv[2]), explore_fraction=0.5, workers=0, progress=False)
