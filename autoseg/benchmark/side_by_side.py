"""`autoseg benchmark --ray`: the datasets benchmarked side by side, one executor task per dataset.

Each task runs the dataset's stages (benchmark_dataset: verify, plan, train, ... each a child process, its time
and memory measured where it runs) on the node Ray chose, with a training's resources, so the stages' numbers
stay those of one dataset on one node. The driver writes report.json each time a dataset finishes, in the
datasets' own order; each dataset's record says where it ran. Without an executor: one after the other, here.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoseg.benchmark.dataset_run import Settings, benchmark_dataset
from autoseg.execution.executor import Task
from autoseg.execution.records import placement
from autoseg.execution.storage_check import check_shared_storage


def dataset_task(payload: dict[str, Any], attempts) -> dict[str, Any]:
    return benchmark_dataset(Path(payload["dataset"]), payload["key"], Path(payload["report_dir"]),
                             payload["settings"])


def dataset_records(datasets: list[Path], keys: list[str], report_dir: Path, settings: Settings,
                    executor=None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index of the dataset, its record) as each dataset finishes."""
    if executor is None:
        for index, (dataset, key) in enumerate(zip(datasets, keys)):
            yield index, benchmark_dataset(dataset, key, report_dir, settings)
        return
    check_shared_storage(executor, [d / "dataset.json" for d in datasets], [report_dir / "work"])
    for index, (dataset, key) in enumerate(zip(datasets, keys)):
        executor.submit(Task(f"benchmark {index} {key}", dataset_task,
                             {"dataset": str(dataset.absolute()), "key": key, "report_dir": str(report_dir.absolute()),
                              "settings": settings, "index": index}))
    for outcome in executor.as_completed():
        record = outcome.result()   # benchmark_dataset records a failing stage itself; this is a lost task
        record["ran_on"] = placement(outcome.attempts)
        yield outcome.task.payload["index"], record
