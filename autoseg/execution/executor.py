"""The executor seam: a command hands tasks to an Executor and reads their outcomes as they finish.

A Task is a module-level function and a JSON-like payload (so it can travel to another machine), a name for the
logs, its kind (a training takes a training's resources; a light task one CPU; a driver none: it only hands
tasks on and waits, e.g. one dataset of `benchmark --ray`) and the file its attempts are
recorded in (records.py). Executors:
- LocalExecutor (local.py): runs the tasks one after the other in this process, as autoseg always has;
- RayExecutor (ray_executor.py): runs them as Ray tasks, side by side as the cluster's resources allow, retried
  on another node when theirs dies.
`options.open_executor(None)` is the local one, so nothing new is imported or needed without `--ray`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRAINING, LIGHT, DRIVER = "training", "light", "driver"


@dataclass
class Task:
    name: str
    function: Callable[..., Any]  # function(payload, attempts) -> value; module level (importable)
    payload: dict[str, Any]
    record: Path | None = None  # the attempts file (records.py); None: not recorded
    kind: str = TRAINING
    after: list[str] = field(default_factory=list)  # names of tasks whose outcome this one needs first


@dataclass
class Outcome:
    task: Task
    value: Any = None
    error: BaseException | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> Any:
        """The value, or the task's own exception raised here (an AutosegError prints as one line)."""
        if self.error is not None:
            raise self.error
        return self.value


class Executor(ABC):
    """Submit tasks, then iterate `as_completed()` for their outcomes; `close()` (or `with`) at the end."""

    where = "local"

    @abstractmethod
    def submit(self, task: Task) -> None: ...

    @abstractmethod
    def as_completed(self) -> Iterator[Outcome]: ...

    @abstractmethod
    def nodes(self) -> list[dict[str, Any]]:
        """The nodes that take work: [{"node_id", "host", "cpus", "gpus"}]."""

    def workers(self) -> int:
        """How many trainings can run at the same time."""
        return 1

    def close(self) -> None:  # noqa: B027 - a local executor holds nothing to release; Ray's shuts down
        return None

    def run_all(self, tasks: Iterable[Task]) -> list[Outcome]:
        """Submit every task and return their outcomes in submission order."""
        tasks = list(tasks)
        for task in tasks:
            self.submit(task)
        done = {id(o.task): o for o in self.as_completed()}
        return [done[id(t)] for t in tasks]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
