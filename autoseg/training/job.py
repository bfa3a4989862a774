"""One training as a value: what to train, for how long, and how.

A TrainingJob is what train() is asked to do, as a frozen, JSON-serialisable object: the schedule, the
benchmark, `train -f 0 1 2` and (later) a cluster executor hand jobs around instead of long argument lists.
Things that cannot travel between processes or machines (an in-memory plan, a per-epoch callback) are not part
of the job; they are passed next to it by the caller that owns them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError


@dataclass(frozen=True)
class TrainingJob:
    work: str
    configuration: str
    fold: str = "0"
    time_budget: str | float | None = None  # wall time of this training ("15m" or seconds); None: the plan's
    epochs: int | None = None  # instead of a time budget
    device: str = "auto"
    resume: bool = False
    extend: bool = False
    overwrite: bool = False
    deterministic: bool = False
    workers: str | int | None = None
    validate: bool = True
    save_probabilities: bool = True
    validation_tta: bool = True
    init_from: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "work", str(self.work))
        object.__setattr__(self, "fold", str(self.fold))
        if self.init_from is not None:
            object.__setattr__(self, "init_from", str(self.init_from))

    @property
    def name(self) -> str:
        return f"{self.configuration} fold {self.fold}"

    def with_(self, **changes: Any) -> "TrainingJob":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> "TrainingJob":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AutosegError(f"training job has unknown fields {unknown}", source, f"use only {sorted(known)}")
        return cls(**data)
