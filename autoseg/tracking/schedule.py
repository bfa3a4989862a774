"""A schedule (train --total-budget) as a parent run; its trainings nest under it. The run's id is kept in
schedule.json, so a resumed schedule goes on logging into the same run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from autoseg.tracking.context import TrackingContext
from autoseg.tracking.parents import parent_run

PARAMS = ("usable", "reserve_fraction", "explore", "eta", "first_share")


@contextmanager
def schedule_run(
    context: TrackingContext | None, state: dict[str, Any], save: Callable[[], None]
) -> Iterator[TrackingContext | None]:
    """Yields the context the schedule's trainings log into (None when not tracking)."""
    if context is None:
        yield None
        return
    earlier = state.get("mlflow") or {}
    run_id = earlier.get("run_id") if earlier.get("uri") == context.uri else None
    params = {
        "total": state["total"]["described"],
        "total_units": state["total"]["units"],
        **{k: state.get(k) for k in PARAMS},
        "candidates": [c["name"] for c in state["candidates"]],
        "skipped": state.get("skipped"),
    }
    with parent_run(context, f"schedule {state['total']['described']}", "schedule", params, run_id) as run:
        assert run is not None  # a context was given
        if run.run_id and run_id != run.run_id:
            state["mlflow"] = {"uri": context.uri, "experiment": context.experiment, "run_id": run.run_id}
            save()
        yield run.child_context()
        chosen = state.get("find_best") or {}
        run.metrics({"chosen_dice": chosen.get("chosen_dice"), "wall_seconds": state.get("wall_seconds")})
        run.tags(
            {
                "winner": state.get("winner"),
                "folds": chosen.get("folds"),
                "policy": (state.get("policy") or {}).get("reason"),
            }
        )
