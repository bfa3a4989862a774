"""One MLflow run, written through MlflowClient with its run id (no global active run, so it is safe in threads,
subprocesses and Ray workers). A tracking failure never stops the work being tracked: the first one is logged as
a warning and the run's later calls are skipped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from autoseg.tracking.context import TrackingContext
from autoseg.tracking.store import experiment_id, mlflow_client
from autoseg.utils.logs import get_logger

log = get_logger("tracking")
PARENT_TAG = "mlflow.parentRunId"
BATCH = 100  # MLflow's limit of params per log_batch (metrics: 1000)
MAX_PARAM_CHARS = 6000  # MLflow's limit of a param value


class TrackedRun:
    def __init__(
        self,
        context: TrackingContext,
        run_name: str,
        tags: dict[str, str] | None = None,
        start_ms: int | None = None,
        run_id: str | None = None,
    ):
        self.context = context
        self.run_id: str | None = None
        self.failed = False
        self.client: Any = None  # an MlflowClient once the run is started
        self._safely("start a run", self._start, run_name, tags or {}, start_ms, run_id)

    def _start(self, run_name: str, tags: dict[str, str], start_ms: int | None, run_id: str | None) -> None:
        self.client = mlflow_client(self.context.uri)
        if run_id:  # continue an earlier run (a resumed schedule)
            self.client.update_run(run_id, status="RUNNING")
            self.run_id = run_id
            return
        if self.context.parent_run_id:
            tags = {PARENT_TAG: self.context.parent_run_id, **tags}
        run = self.client.create_run(
            experiment_id(self.client, self.context.uri, self.context.experiment),
            start_time=start_ms,
            tags=tags,
            run_name=run_name,
        )
        self.run_id = run.info.run_id

    @property
    def active(self) -> bool:
        return self.run_id is not None and not self.failed

    def child_context(self) -> TrackingContext | None:
        """The context whose runs nest under this one (None when this run could not be made)."""
        return self.context.nested(self.run_id) if self.run_id else None

    def params(self, values: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k)[:250], _param_value(v)) for k, v in values.items()]
        for i in range(0, len(items), BATCH):
            self._safely("log params", self._batch, params=items[i : i + BATCH])

    def metrics(self, values: Mapping[str, float | None], step: int = 0, timestamp_ms: int | None = None) -> None:
        from mlflow.entities import Metric

        stamp = timestamp_ms or int(time.time() * 1000)
        items = [Metric(k, float(v), stamp, int(step)) for k, v in values.items() if v is not None]
        if items:
            self._safely("log metrics", self._batch, metrics=items)

    def tags(self, values: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self._safely(
            "set tags", self._batch, tags=[RunTag(k, str(v)[:5000]) for k, v in values.items() if v is not None]
        )

    def artifacts(self, paths: Iterable[Path], folder: str | None = None) -> None:
        for path in paths:
            if Path(path).is_file():
                self._safely(
                    f"store {Path(path).name}", lambda p: self.client.log_artifact(self.run_id, str(p), folder), path
                )

    def end(self, status: str = "FINISHED", end_ms: int | None = None) -> None:
        if self.run_id is None or self.client is None:
            return
        if not self.failed:
            self._safely("end the run", self.client.set_terminated, self.run_id, status, end_ms)
            return
        # A run that stopped logging is still closed if the store answers, so it does not show as running; the
        # store already failed and was warned about once.
        with suppress(Exception):
            self.client.set_terminated(self.run_id, "FAILED" if status == "FINISHED" else status, end_ms)

    def _batch(self, **items: Any) -> None:
        self.client.log_batch(self.run_id, **items)

    def _safely(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self.failed or (self.run_id is None and what != "start a run"):
            return
        try:
            call(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- any store failure: the tracked work goes on
            self.failed = True
            log.warning(
                "MLflow tracking stopped (could not %s in %s: %s); the work goes on untracked",
                what,
                self.context.uri,
                str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__,
            )


def _param_value(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (list, tuple, dict)) else str(value)
    return text[:MAX_PARAM_CHARS]


@contextmanager
def ended(close: Callable[[str], None]) -> Iterator[None]:
    """Call close(status) when the block ends: FINISHED, KILLED (Ctrl-C, SIGTERM) or FAILED."""
    try:
        yield
    except KeyboardInterrupt:
        close("KILLED")
        raise
    except BaseException:
        close("FAILED")
        raise
    close("FINISHED")
