"""Opening an MLflow store: the lazy import, the one-line errors of a missing MLflow or an unusable URI, and the
experiment (created with its artifacts next to an SQLite file, so nothing lands in the current directory)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.tracking.context import (
    DEFAULT_ARTIFACTS,
    TrackingContext,
    resolve_uri,
    sqlite_path,
)

INSTALL = 'pip install "autoseg[mlflow]"'
# While checking a URI at start: fail in seconds, not after MLflow's minutes of retries.
_CHECK_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def mlflow_client(uri: str) -> Any:
    """An MlflowClient for `uri` (explicit run ids, no global active run: safe in threads and subprocesses)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise AutosegError("--mlflow needs MLflow, which is not installed", fix=INSTALL) from None
    for name in ("alembic", "mlflow.store.db.utils"):  # the store's table creation is not the user's news
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def open_tracking(
    uri: str | None, folder: str | Path, experiment: str, parent_run_id: str | None = None
) -> TrackingContext:
    """Check that the store answers and the experiment exists (made if missing); a problem is one line."""
    resolved = resolve_uri(uri, folder)
    database = sqlite_path(resolved)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    client = mlflow_client(resolved)
    try:
        with _environment(_CHECK_ENV):
            experiment_id(client, resolved, experiment)
            if parent_run_id:
                client.get_run(parent_run_id)
    except AutosegError:
        raise
    except Exception as error:  # noqa: BLE001 -- MLflow, SQLAlchemy and requests raise their own types
        raise AutosegError(
            f"cannot use the MLflow tracking store {resolved}: {_first_line(error)}",
            fix="pass a reachable tracking URI (http://host:5000, sqlite:///path/mlflow.db, "
            "postgresql://...), or --mlflow without one for the SQLite store in WORK",
        ) from None
    return TrackingContext(resolved, experiment, parent_run_id)


def experiment_id(client: Any, uri: str, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise AutosegError(
                f"MLflow experiment '{name}' is deleted in {uri}",
                fix="restore it (mlflow experiments restore), or pass another --mlflow-experiment",
            )
        return found.experiment_id
    database = sqlite_path(uri)
    location = (database.parent / DEFAULT_ARTIFACTS).resolve().as_uri() if database is not None else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # another process created it between the lookup and here
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
