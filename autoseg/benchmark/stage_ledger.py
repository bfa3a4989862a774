"""REPORT/logs/DATASET/stages.json: the dataset's stage records, written when a stage starts and again when it
ends, so that a benchmark killed mid-stage and continued with `--resume` reports both runs: the stages the first
run finished, the one it was killed in (its time up to its log's last write), then the resumed run's."""

from __future__ import annotations

import time
from pathlib import Path, PurePath
from typing import Any, Sequence

from autoseg.schema.load import load_validated_data
from autoseg.schema.stage_ledger_file import StageLedgerFile
from autoseg.utils.files import write_json
from autoseg.utils.safe_names import is_safe_name

LEDGER = "stages.json"


def save_stages(logs: Path, records: list[dict[str, Any]]) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    write_json(logs / LEDGER, records)


def running_record(name: str, command: Sequence[str], log: str) -> dict[str, Any]:
    """A stage's record while it runs; if the benchmark is killed, this is what the ledger keeps of it."""
    return {
        "name": name,
        "command": [str(c) for c in command],
        "seconds": 0.0,
        "peak_ram_mb": 0.0,
        "peak_rss_sum_mb": 0.0,
        "returncode": None,
        "log": log,
        "status": "running",
        "started_at": time.time(),
    }


def earlier_stages(logs: Path) -> list[dict[str, Any]]:
    """The records of the runs before this resume, each marked earlier_run; a stage still running when its
    benchmark was killed becomes 'killed', timed from its start to its log's last write."""
    path = logs / LEDGER
    if not path.is_file():  # killed before its first stage ended, or written by an autoseg without the ledger
        return []
    records = load_validated_data(path, StageLedgerFile, LEDGER, StageLedgerFile.FIX)
    for record in records:
        record["earlier_run"] = True
        if record.get("status") == "running":
            record["status"] = "killed"
            ended = _last_write(logs, record["log"])
            if ended is not None and record.get("started_at") is not None:
                record["seconds"] = round(max(0.0, ended - record["started_at"]), 2)
    return records


def _last_write(logs: Path, log: str) -> float | None:
    # The record's log names a file in this dataset's logs folder; only its plain file name is used, never the
    # path the file gives.
    name = PurePath(log).name
    path = logs / name
    return path.stat().st_mtime if is_safe_name(name) and path.is_file() else None
