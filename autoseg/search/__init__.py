"""Optuna search over the U-Net family and its training choices (`autoseg search`).

space.py (what a trial may choose) -> trial_config.py (the trial's Configuration) -> budget_check.py (does it
fit the device?) -> objective.py (train one fold with pruning.py's reporter) -> run.py (the study: storage.py,
report.py, plots.py) -> export.py (the best trial as a configuration in plans.json).
"""
