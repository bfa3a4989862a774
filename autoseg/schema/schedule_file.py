"""The declared schema of WORK/schedule.json (scheduling/schedule_file.py), as far as `--resume` and the torchrun
followers act on it: the budget, the steps (whose configuration and fold become paths, and whose recorded "call"
becomes the arguments of a training) and the rungs. The record's other fields are allowed and only reported."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoseg.schema.bounds import MAX_FOLDS, MAX_ITERATIONS, SafeName, ShortText

Fold = SafeName | Annotated[int, Field(ge=0, le=MAX_FOLDS)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]
MAX_STEPS = 100_000
OPEN = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)


class TrainCall(BaseModel):
    """The keyword arguments a step passed to training.loop.train: nothing else may reach it."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    resume: bool = False
    extend: bool = False
    time_budget: Amount | ShortText | None = None
    epochs: Annotated[int, Field(ge=1, le=MAX_ITERATIONS)] | None = None


class Step(BaseModel):
    model_config = OPEN
    id: ShortText
    configuration: SafeName
    fold: Fold
    status: ShortText
    target: Amount | None = None
    validate_: bool = Field(True, alias="validate")
    call: TrainCall | None = None


class Total(BaseModel):
    model_config = OPEN
    units: ShortText
    amount: Amount
    described: ShortText


class ScheduleFile(BaseModel):
    model_config = OPEN
    FIX: ClassVar[str] = "plan a new work folder for a new schedule (schedule.json is autoseg's record)"
    version: Literal[1]
    status: ShortText
    wall_seconds: Amount = 0.0
    total: Total | None = None
    first_share: Amount | None = None
    steps: Annotated[list[Step], Field(max_length=MAX_STEPS)] = []
    rungs: Annotated[list[dict[str, Any]], Field(max_length=MAX_STEPS)] = []
    stopped: dict[ShortText, Any] = {}
