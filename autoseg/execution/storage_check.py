"""Shared storage, checked before any work starts: every node that will take work must read the inputs (WORK's
plans.json, a model) and write where its tasks write (fold folders, a predictions folder), at the same paths the
driver sees. A node that cannot is named in one line with the fix, instead of trainings failing one by one.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError

FIX = (
    "put WORK (and every output) on storage that every Ray node mounts at the same path (NFS, Lustre, "
    "CephFS ...), writable by the user Ray runs as; or leave that node out of the cluster"
)


def probe(payload: dict[str, Any]) -> str | None:
    """On one node: None when it reads every `read` file and writes into every `write` folder, else what failed."""
    for path in payload["read"]:
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as error:
            return f"cannot read {path} ({error.strerror or error})"
    for folder in payload["write"]:
        test = Path(folder) / f".autoseg-storage-check-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            test.write_bytes(b"ok")
            test.unlink()
        except OSError as error:
            return f"cannot write into {folder} ({error.strerror or error})"
    return None


def check_shared_storage(executor, read: list[Path], write: list[Path]) -> None:
    """Run `probe` on every node of a Ray executor (nothing to check for the local one: it is this process)."""
    each = getattr(executor, "run_on_each_node", None)
    if each is None:
        return
    payload = {"read": [str(Path(p).absolute()) for p in read], "write": [str(Path(p).absolute()) for p in write]}
    for node, problem in each(probe, payload):
        if problem:
            raise AutosegError(f"Ray node {node['node_id'][:12]} on host {node['host']} {problem}", fix=FIX)
