"""Where runs go: a small serialisable value, so that trainings in other processes or on other machines log into
the same store, under the same parent run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_DB = "mlflow.db"  # the embedded store inside WORK (or the benchmark's report folder)
DEFAULT_ARTIFACTS = "mlruns"  # its artifacts, next to it


@dataclass(frozen=True)
class TrackingContext:
    uri: str  # tracking URI: sqlite:///..., http(s)://server, postgresql://...
    experiment: str  # experiment name; created when missing
    parent_run_id: str | None = None  # runs started with this context are nested under that run

    def nested(self, parent_run_id: str) -> TrackingContext:
        return replace(self, parent_run_id=parent_run_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackingContext:
        return cls(**{k: data[k] for k in ("uri", "experiment", "parent_run_id") if k in data})

    def cli_arguments(self) -> list[str]:
        """The train options that make a child `autoseg train` process log into this context."""
        arguments = ["--mlflow", self.uri, "--mlflow-experiment", self.experiment]
        return arguments + (["--mlflow-parent", self.parent_run_id] if self.parent_run_id else [])


def resolve_uri(uri: str | None, folder: str | Path) -> str:
    """The tracking URI to use: the user's, a database file path made an sqlite URI, or, without one, the
    embedded SQLite store in `folder` (WORK, or a benchmark's report folder)."""
    if not uri:
        return sqlite_uri(Path(folder) / DEFAULT_DB)
    if "://" not in uri and uri.endswith(".db"):
        return sqlite_uri(Path(uri))
    return uri


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of an sqlite URI (artifacts then go next to it), else None (a server decides)."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def as_context(value: TrackingContext | dict[str, Any] | None) -> TrackingContext | None:
    """A context, from itself or from its dict (as it travels in a task's payload)."""
    if value is None or isinstance(value, TrackingContext):
        return value
    return TrackingContext.from_dict(value)
