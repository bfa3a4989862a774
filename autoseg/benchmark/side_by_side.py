"""`autoseg benchmark --ray`: the datasets and their stages side by side.

Each dataset is a driver task (no CPU held: it only hands work on and waits) that opens the same executor inside
its task and runs the dataset's stages through it (stage_dispatch.py): every training stage a job of its own,
placed by Ray with a training's resources, a cascade fold waiting only for the folds it learns from, find-best
after the trainings, predict and evaluate after find-best. So a benchmark keeps every worker busy while it has
trainings to give, not only as many workers as it has datasets. The driver writes report.json each time a
dataset finishes, in the datasets' own order; each dataset's record says where its driver ran, each stage's
record where that stage ran. Without an executor (or with the local one): one after the other, here, as always.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoseg.benchmark.dataset_run import Settings, benchmark_dataset
from autoseg.execution.executor import DRIVER, Task
from autoseg.execution.records import placement
from autoseg.execution.storage_check import check_shared_storage


def dataset_task(payload: dict[str, Any], attempts) -> dict[str, Any]:
    from autoseg.execution.ray_executor import RayExecutor

    with RayExecutor.reopen(payload["cluster"]) as executor:
        return benchmark_dataset(
            Path(payload["dataset"]), payload["key"], Path(payload["report_dir"]), payload["settings"], executor
        )


def dataset_records(
    datasets: list[Path], keys: list[str], report_dir: Path, settings: Settings, executor=None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index of the dataset, its record) as each dataset finishes."""
    if executor is None or executor.where == "local":
        for index, (dataset, key) in enumerate(zip(datasets, keys)):
            yield index, benchmark_dataset(dataset, key, report_dir, settings)
        return
    check_shared_storage(executor, [d / "dataset.json" for d in datasets], [report_dir / "work"])
    # A dataset's schedule (--total-budget) plans its rest for its share of the workers, not all of them:
    # every dataset's schedule counting the whole cluster would plan more than it gets, and overrun its budget.
    cluster = executor.inside_task(max(1, executor.workers() // len(datasets)))
    for index, (dataset, key) in enumerate(zip(datasets, keys)):
        executor.submit(
            Task(
                f"benchmark {index} {key}",
                dataset_task,
                {
                    "dataset": str(dataset.absolute()),
                    "key": key,
                    "report_dir": str(report_dir.absolute()),
                    "settings": settings,
                    "index": index,
                    "cluster": cluster,
                },
                kind=DRIVER,
            )
        )
    for outcome in executor.as_completed():
        record = outcome.result()  # benchmark_dataset records a failing stage itself; this is a lost task
        record["ran_on"] = placement(outcome.attempts)
        yield outcome.task.payload["index"], record
