"""WORK/schedule.json: everything a schedule decided and did, written atomically after every change.

It is both the record for people (what ran, how long, why, what was stopped and why) and the state `--resume`
continues from: a decision already written (a rung's cut, the policy's folds) is read back, never recomputed,
so a schedule killed at any point finishes with the decisions it had made.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.layout.work import SCHEDULE
from autoseg.schema.load import load_validated_data
from autoseg.schema.schedule_file import ScheduleFile as ScheduleSchema
from autoseg.utils.files import write_json

SCHEDULE_VERSION = 1
NAME = SCHEDULE


def now_iso() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def is_writer() -> bool:
    """Only rank 0 of a torchrun job writes the schedule; the other ranks follow it."""
    return int(os.environ.get("RANK", "0")) == 0


class ScheduleFile:
    """The schedule's state in memory, saved to WORK/schedule.json on every `save()`; in seconds mode it also
    counts the job's wall time, summed over the sessions of a resumed schedule."""

    def __init__(self, work: Path, state: dict[str, Any]):
        self.path = Path(work) / NAME
        self.state = state
        self._session_start = time.monotonic()
        self._spent_before = float(state.get("wall_seconds", 0.0))

    @classmethod
    def open(cls, work: Path, resume: bool, fresh_state: dict[str, Any]) -> "ScheduleFile":
        path = Path(work) / NAME
        if path.exists():
            if not resume:
                raise AutosegError(
                    "a schedule already ran (or is running) in this work folder",
                    path,
                    "pass --resume to continue it, or plan a new work folder",
                )
            state = load_validated_data(path, ScheduleSchema, NAME)
            if state.get("version") != SCHEDULE_VERSION:
                raise AutosegError(
                    f"schedule.json version {state.get('version')} is not {SCHEDULE_VERSION}",
                    path,
                    "plan a new work folder for a new schedule",
                )
            state.setdefault("sessions", []).append({"started": now_iso(), "resumed": True})
            return cls(work, state)
        if resume:
            raise AutosegError("nothing to resume: no schedule.json", path, "start the schedule without --resume")
        fresh_state.update(
            {
                "version": SCHEDULE_VERSION,
                "status": "running",
                "created": now_iso(),
                "sessions": [{"started": now_iso(), "resumed": False}],
                "wall_seconds": 0.0,
                "steps": [],
                "rungs": [],
                "stopped": {},
            }
        )
        return cls(work, fresh_state)

    def wall_seconds(self) -> float:
        return self._spent_before + time.monotonic() - self._session_start

    def save(self) -> None:
        self.state["wall_seconds"] = round(self.wall_seconds(), 1)
        if is_writer():
            write_json(self.path, self.state)

    def step(self, step_id: str) -> dict[str, Any] | None:
        return next((s for s in self.state["steps"] if s["id"] == step_id), None)

    def add_step(self, step: dict[str, Any]) -> dict[str, Any]:
        """The recorded step of this id (on resume), else `step`, recorded as planned."""
        existing = self.step(step["id"])
        if existing is not None:
            return existing
        step.update({"status": "planned"})
        self.state["steps"].append(step)
        self.save()
        return step
