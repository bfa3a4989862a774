"""One budget for the whole job: which configurations and folds to train, for how long, and which to stop early.

`schedule(WORK, total_budget="1h")` (CLI: `autoseg train WORK --total-budget 1h`) starts every candidate
configuration on fold 0 with a small share, stops the ones behind by successive halving on their pseudo-Dice
curves, spends the rest by the rule in policy.py, runs find-best and writes WORK/schedule.json.
"""

from autoseg.scheduling.run import schedule

__all__ = ["schedule"]
