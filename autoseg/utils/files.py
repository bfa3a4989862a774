"""Atomic writes and JSON artifacts: a crash never leaves a half-written file under the final name."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoseg.errors import AutosegError


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write(path: str | Path, write: Callable[[str], None], suffix: str = "") -> Path:
    """Call write(tmp_path) then rename tmp_path to path, so readers only ever see whole files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    text = json.dumps(data, indent=2, default=_json_default) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    return atomic_write(path, write, suffix=".json")


def read_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise AutosegError(f"{what} not found", path, "check the path, or run the stage that writes it first")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AutosegError(f"{what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})", path,
                           "repair the JSON syntax") from None


def ensure_new_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace a user's existing output unless they asked for it."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise AutosegError("output already exists", path, "choose another output path or pass --overwrite")
    return path
