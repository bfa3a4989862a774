"""Today's behaviour: every task in this process, one after the other, in the order submitted. No Ray."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from autoseg.errors import AutosegError
from autoseg.execution.executor import Executor, Outcome, Task
from autoseg.execution.records import end_attempt, start_attempt, this_node


def run_recorded(task_function, payload: dict[str, Any], record) -> tuple[Any, list[dict[str, Any]]]:
    """Run one task with its attempt recorded (shared by both executors: Ray runs this in its worker)."""
    attempts = start_attempt(record)
    try:
        value = task_function(payload, attempts)
    except BaseException as error:
        end_attempt(record, attempts, "failed: " + (str(error).splitlines() or [repr(error)])[0][:300])
        raise
    end_attempt(record, attempts, "done")
    return value, attempts


class LocalExecutor(Executor):
    where = "local"

    def __init__(self) -> None:
        self._queue: list[Task] = []

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def as_completed(self) -> Iterator[Outcome]:
        failed: set[str] = set()
        while self._queue:
            task = self._queue.pop(0)
            if failed & set(task.after):
                yield Outcome(task, error=AutosegError(f"{task.name} not run: a task it needs failed"))
                failed.add(task.name)
                continue
            try:
                value, attempts = run_recorded(task.function, task.payload, task.record)
                yield Outcome(task, value=value, attempts=attempts)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as error:  # noqa: BLE001  the caller decides: raise it (train -f) or go on (a schedule's rung)
                failed.add(task.name)
                yield Outcome(task, error=error)

    def nodes(self) -> list[dict[str, Any]]:
        import os

        return [{**this_node(), "cpus": os.cpu_count() or 1, "gpus": 0}]
