"""Experiment tracking with MLflow (`--mlflow [URI]` on train, search and benchmark).

Every training is an MLflow run (the plan configuration and the job's options as params, per-epoch metrics with
step = epoch, curves.png / training_summary.json / train.log / plan.log as artifacts); a schedule and a benchmark
are parent runs with their trainings nested; a search logs one run per trial. Without a URI the store is an
SQLite file in WORK (WORK/mlflow.db, artifacts in WORK/mlruns), opened with `mlflow ui --backend-store-uri
sqlite:///WORK/mlflow.db`. MLflow is imported only when tracking is asked for (the `mlflow` extra).

What travels between processes (a benchmark's stages, a cluster's workers) is a TrackingContext: the store's
URI, the experiment and the parent run's id, nothing else. In Python:

    context = open_tracking(None, "work", "Hippocampus")            # or open_tracking("http://host:5000", ...)
    autoseg.scheduling.schedule("work", "1h", tracking=context)      # search(..., tracking=context) likewise
"""

from autoseg.tracking.context import TrackingContext
from autoseg.tracking.store import open_tracking

__all__ = ["TrackingContext", "open_tracking"]
