"""Atomic writes and JSON artifacts: a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoseg.errors import AutosegError
from autoseg.utils.json_limits import read_bounded_json


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# Write failures the user can fix (room on the disk, a folder they may write to), not bugs of ours.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
DISK_MESSAGES = ("No space left", "Read-only file system", "Permission denied", "Disk quota", "File too large")


def write_failure(path: str | Path, reason: str) -> AutosegError:
    """The one-line error of a write that failed for lack of space or permission; the previous file is intact
    because every artifact is written to a temporary name first."""
    return AutosegError(
        f"cannot write ({reason}); the previous version of this file, if any, is unchanged",
        path,
        "free disk space, or make the folder writable, or choose an output on another disk; "
        "then run the same command again",
    )


def is_disk_failure(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return True
    return any(text in str(error) for text in DISK_MESSAGES)


def atomic_write(path: str | Path, write: Callable[[str], None], suffix: str = "") -> Path:
    """Call write(tmp_path) then rename tmp_path to path, so readers only ever see whole files.

    A full disk or an unwritable folder raises AutosegError naming `path` (and leaves no temporary file)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if is_disk_failure(error):
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
            raise write_failure(path, reason) from None
        raise
    return path


# What atomic_write and image_io leave when killed mid-write: ".NAME." + mkstemp's 8 random characters + suffix.
_PARTIAL = re.compile(r"^\..+\.[a-z0-9_]{8}(\.[a-z]{1,5})?$")


def remove_partial_writes(folder: str | Path) -> list[str]:
    """Delete the temporary files (and staging folders) of writes a killed run left in `folder`; returns their
    names. Call it only while holding the folder's lock (autoseg/utils/locks.py): then no write is in progress."""
    folder = Path(folder)
    removed = []
    for path in folder.glob(".*") if folder.is_dir() else []:
        if _PARTIAL.match(path.name) and not path.name.endswith(".autoseg-lock"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path.name)
    return removed


def write_json(path: str | Path, data: Any) -> Path:
    text = json.dumps(data, indent=2, default=_json_default) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    return atomic_write(path, write, suffix=".json")


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parsed JSON, its size and nesting bounded first (autoseg/utils/json_limits.py): any file may come from
    someone else. Files with a declared schema are read with autoseg.schema.load.load_validated instead."""
    return read_bounded_json(path, what)


def ensure_new_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse to replace a user's existing output unless they asked for it."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise AutosegError("output already exists", path, "choose another output path or pass --overwrite")
    return path
