"""The declared schema of REPORT/logs/DATASET/stages.json (autoseg/benchmark/stage_ledger.py): the benchmark's
stage records, read back by `benchmark --resume` so that its report shows the first run's stages too."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from autoseg.schema.bounds import ShortText

Megabytes = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class StageRecordFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    name: Annotated[str, Field(min_length=1, max_length=200)]
    command: Annotated[list[ShortText], Field(max_length=10_000)]
    seconds: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    peak_ram_mb: Megabytes
    peak_rss_sum_mb: Megabytes
    returncode: int | None
    log: ShortText
    status: Literal["running", "killed"] | None = None  # absent: the stage ended (returncode says how)
    started_at: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    kept: bool = False
    earlier_run: bool = False
    ran_on: Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=64)] | None = None


class StageLedgerFile(RootModel[Annotated[list[StageRecordFile], Field(max_length=100_000)]]):
    FIX: ClassVar[str] = (
        "delete the file (the resumed report then lists only the stages run after the resume), or start the "
        "benchmark again into a new -o folder"
    )
