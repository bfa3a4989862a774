"""A schedule or a benchmark as a parent run: the trainings it starts are nested under it (their context carries
its run id, also into child processes and other machines)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from autoseg.tracking.context import TrackingContext
from autoseg.tracking.run import TrackedRun, ended


@contextmanager
def parent_run(
    context: TrackingContext | None,
    run_name: str,
    kind: str,
    params: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> Iterator[TrackedRun | None]:
    """A run around the block (None when not tracking); `run_id` continues an earlier one (a resumed schedule).
    Its child_context() is what the nested trainings log into."""
    if context is None:
        yield None
        return
    run = TrackedRun(context, run_name, tags={"kind": kind}, run_id=run_id)
    if params and run_id is None:
        run.params(params)
    with ended(run.end):
        yield run
