"""`autoseg search --ray ADDRESS --search-workers N`: N Optuna workers as Ray tasks on one shared study.

The driver opens the study first (a new one gets its baseline and architecture-sweep trials enqueued once),
then N tasks each run `search` with trials = their share and no export, side by side on the cluster's
workers, each trial taking a training's resources; Optuna's storage is what they share (TPE with a constant
liar, so running trials steer the others away). The driver then writes the report and exports the best trial.
SQLite is one file on one machine: with more than one node the storage must be a server (PostgreSQL).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.execution.executor import Task
from autoseg.execution.storage_check import check_shared_storage
from autoseg.layout.work import PLANS
from autoseg.search.run import search
from autoseg.search.storage import default_storage_url
from autoseg.utils.logs import get_logger

log = get_logger("search")


def search_worker(payload: dict[str, Any], attempts) -> dict[str, Any]:
    return search(payload["work"], payload["configuration"], **payload["options"])


def search_on_cluster(
    executor, count: int | None, work: str | Path, configuration: str, **options: Any
) -> dict[str, Any]:
    count = count or executor.workers()
    if count < 1:
        raise AutosegError(f"--search-workers must be at least 1, not {count}", fix="e.g. --search-workers 4")
    url = options.get("storage") or default_storage_url(work, options.get("study") or f"{configuration}_search")
    nodes = executor.nodes()
    if url.startswith("sqlite") and len(nodes) > 1:
        raise AutosegError(
            f"the Ray cluster has {len(nodes)} nodes, and an SQLite study is one file that only one machine may write",
            fix="give the study a server all nodes reach: --storage "
            'postgresql://USER@HOST/DB (pip install "autoseg[postgres]")',
        )
    check_shared_storage(executor, [Path(work) / PLANS], [Path(work) / "search"])
    trials, export = options.pop("trials", None), options.pop("export", None)
    opened = search(work, configuration, trials=0, export="", **options)  # creates the study, enqueues firsts
    share = None if trials is None else math.ceil(trials / count)
    worker_options = {
        **options,
        "trials": share,
        "export": "",
        "baseline": False,
        "architecture_sweep": False,
        "progress": False,
        "storage": url,
    }
    seed = options.get("seed")
    for i in range(count):
        executor.submit(
            Task(
                f"search worker {i}",
                search_worker,
                {
                    "work": str(work),
                    "configuration": configuration,
                    "options": {**worker_options, "seed": None if seed is None else seed + i},
                },
            )
        )
    log.info(
        "search %s: %d workers on %s, %s trials each",
        opened["study"],
        count,
        executor.where,
        share if share is not None else "as many as the time budget allows",
    )
    for outcome in executor.as_completed():
        outcome.result()
    return search(work, configuration, trials=0, export=export, **{**options, "storage": url})
