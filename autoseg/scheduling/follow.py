"""The other ranks of a torchrun schedule: rank 0 decides and writes schedule.json; every other rank joins each
training rank 0 starts, with the same train() arguments (a step's `call`), until the schedule is finished.

Validations and find-best are rank 0's alone (train() returns early on the other ranks, as it does for them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autoseg.layout.work import SCHEDULE
from autoseg.scheduling.schedule_file import NAME
from autoseg.schema.load import load_validated_data
from autoseg.schema.schedule_file import ScheduleFile

POLL_S = 1.0


def follow(work: Path, device: str, workers) -> dict[str, Any]:
    from autoseg.training.loop import train

    joined: set[str] = set()
    while True:
        state = _read(work / NAME)
        if state is None:
            time.sleep(POLL_S)
            continue
        pending = [
            s
            for s in state["steps"]
            if s["id"] not in joined and s.get("call") is not None and s["status"] == "running"
        ]
        for step in pending[:1]:
            joined.add(step["id"])
            train(
                work,
                step["configuration"],
                step["fold"],
                device=device,
                workers=workers,
                validate=False,
                progress=False,
                **step["call"],
            )
        # steps rank 0 finished (or that needed no training) before this rank saw them are not joined later
        joined |= {s["id"] for s in state["steps"] if s["status"] in ("done", "failed")}
        if state.get("status") == "finished":
            return state
        if not pending:
            time.sleep(POLL_S)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return load_validated_data(path, ScheduleFile, SCHEDULE) if path.is_file() else None
    except Exception:
        return None
