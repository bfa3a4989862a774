"""How one search worker runs: `autoseg search`'s flags as one frozen value instead of twenty arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SearchOptions:
    trials: int | None = None  # trials this worker runs (N workers with 3 run 3N); 0: report, export
    time_budget: str | float | None = None  # wall time of this worker
    storage: str | None = None  # Optuna RDB URL (default: SQLite file WORK/search/<study>.db)
    study: str | None = None  # default `<configuration>_search`; an existing study is continued
    space: str | Path | dict | None = None  # JSON file or dict laid over the default space (space.py)
    pruner: str = "median"
    fold: int | str = 0
    trial_budget: str | float | None = None  # training time of each trial (default: the plan's own budget)
    trial_epochs: int | None = None  # ... or epochs (default for epoch plans: a tenth of their epochs)
    seed: int | None = None  # sampler seed (give workers different seeds, or none)
    export: str | None = None  # configuration name of the best trial (default `<cfg>_search`; "": none)
    overwrite: bool = False  # replace an export that already has trained models
    baseline: bool = True  # a new study's first trial is the plan's own configuration
    architecture_sweep: bool = True  # then one trial per other architecture at the plan's other values
    enqueue: list[dict[str, Any]] | None = None  # parameter sets to try first (after the baseline)
    device: str = "auto"
    workers: str | int | None = None
    progress: bool = True
    tracking: Any = None  # a TrackingContext (autoseg.tracking): each trial an MLflow run
