"""Where and when each attempt of a task ran: one small JSON file per task, appended by the task itself.

The task writes its attempt (node id, host, pid, start) before it works and its end after, so a task that Ray
retries on another node after its node died leaves both attempts on record, and the retry can see that it is a
retry (and resume instead of starting over). The driver reads the file when the task's outcome arrives and
copies it into schedule.json / training_summary.json. The files live on the shared storage next to the outputs.
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.utils.files import read_json, write_json

LOCAL_NODE = "local"


def now_iso() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def this_node() -> dict[str, Any]:
    """This process's node: the Ray node id inside a Ray worker, else 'local'; and the host name."""
    node = LOCAL_NODE
    ray = sys.modules.get("ray")  # never imported here: only a process that already uses Ray asks it
    if ray is not None and ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()
    return {"node_id": node, "host": socket.gethostname()}


def read_attempts(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not Path(path).is_file():
        return []
    try:
        data = read_json(path, "attempts record")
    except (AutosegError, OSError):  # a record cut short by a dying node: the attempt is lost, not the task
        return []
    return data if isinstance(data, list) else []


def start_attempt(path: Path | None) -> list[dict[str, Any]]:
    """Record a new attempt; returns every attempt so far, this one last."""
    attempts = read_attempts(path)
    attempts.append(
        {
            "attempt": len(attempts) + 1,
            **this_node(),
            "pid": os.getpid(),
            "started": now_iso(),
            "ended": None,
            "outcome": "running",
        }
    )
    if path is not None:
        write_json(path, attempts)
    return attempts


def end_attempt(path: Path | None, attempts: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    attempts[-1].update({"ended": now_iso(), "outcome": outcome})
    if path is not None:
        write_json(path, attempts)
    return attempts


def lost_attempts(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier attempts that never ended: their node (or process) died under them."""
    return [a for a in attempts[:-1] if a.get("outcome") == "running"]


def placement(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a task finally ran, and every attempt, for a record (schedule.json, training_summary.json)."""
    last = attempts[-1] if attempts else {**this_node(), "started": None, "ended": None}
    return {
        "node_id": last.get("node_id"),
        "host": last.get("host"),
        "started": last.get("started"),
        "ended": last.get("ended"),
        "retries": max(0, len(attempts) - 1),
        "attempts": attempts,
    }


def stamp_summary(summary_path: Path, attempts: list[dict[str, Any]]) -> None:
    """Add where the training ran to its training_summary.json (written whole again, atomically)."""
    if not summary_path.is_file():
        return
    summary = read_json(summary_path, "training summary")
    summary["ran_on"] = placement(attempts)
    write_json(summary_path, summary)
