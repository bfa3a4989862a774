"""The declared schema of REPORT/benchmark_settings.json: what a benchmark was started with (its dataset
folders and settings, as report.json's "settings" holds them), written before its first stage so that
`benchmark --resume` can refuse to continue it with other settings."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

PathText = Annotated[str, Field(max_length=4096)]


class BenchmarkSettingsFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    datasets: Annotated[list[PathText], Field(min_length=1, max_length=10_000)]
    settings: Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=64)]
    command: Annotated[str, Field(max_length=100_000)]
    FIX: ClassVar[str] = "start the benchmark again into a new -o folder (this file is written by autoseg benchmark)"
