"""One writer per output: a lock per training fold folder, predictions folder and preprocessed configuration.

The lock is an flock on a small file beside the output (`.NAME.autoseg-lock` next to the folder NAME, so
`--overwrite` can delete the folder itself). The kernel releases an flock when its process dies, however it
dies (kill -9 included), so a lock left by a killed run is stale by construction: the next run takes it over
and says whose it was. The file holds the holder's pid, host, start time and command, which a refused second
writer prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from autoseg.errors import AutosegError
from autoseg.utils.logs import get_logger

log = get_logger("lock")
SUFFIX = ".autoseg-lock"
_HELD: set[int] = set()  # lock descriptors of this process


def _close_in_child() -> None:
    """A forked worker (augmentation, preprocessing pool) must not keep a lock alive after its parent is killed:
    the lock belongs to the parent alone."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def lock_path(output: Path) -> Path:
    output = Path(output).absolute()
    return output.parent / f".{output.name}{SUFFIX}"


@contextmanager
def output_lock(output: str | Path, what: str) -> Iterator[None]:
    """Hold the lock of `output` (a folder) for the duration; refuse with the holder named when it is held.

    `what` says what the output is, for the message ("training fold", "predictions folder" ...)."""
    refuse_file_in_place(output, what)
    path = lock_path(Path(output))
    fd = _acquire(path, Path(output), what)
    _HELD.add(fd)
    try:
        yield
    finally:
        _HELD.discard(fd)
        _release(path, fd)


def refuse_file_in_place(output: str | Path, what: str) -> None:
    """An output folder whose path is an existing file: one line, instead of mkdir's traceback later."""
    if Path(output).exists() and not Path(output).is_dir():
        raise AutosegError(
            f"the {what} to write is an existing file, not a folder",
            output,
            "choose a folder path for the output, or move that file away",
        )


@contextmanager
def output_locks(outputs, what: str) -> Iterator[None]:
    """Several outputs at once (each once, in a fixed order so two runs cannot wait on each other)."""
    with ExitStack() as stack:
        for output in sorted({Path(o).absolute() for o in outputs}):
            stack.enter_context(output_lock(output, what))
        yield


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "another process (it has not written its details yet)"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {started}" + (
        f" ({holder['command']})" if holder.get("command") else ""
    )


def _acquire(path: Path, output: Path, what: str) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        from autoseg.utils.files import is_disk_failure, write_failure

        if is_disk_failure(error):
            raise write_failure(path.parent, error.strerror or str(error)) from None
        raise
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise AutosegError(
                f"this {what} is being written by another autoseg run: {describe_holder(holder)}",
                output,
                "wait for that run to finish (or stop it), or write to another output; "
                "a run that was killed releases its lock by itself",
            ) from None
        # The previous holder may have deleted the file between our open and our lock: then this lock guards
        # nothing, and another run could create and lock a new file. Lock the file that is at the path.
        if _same_file(fd, path):
            break
        os.close(fd)
    previous = _read(fd)
    if previous:
        log.info("taking over the lock of %s: %s, which ended without releasing it", output, describe_holder(previous))
    _write(
        fd,
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)),
        },
    )
    return fd


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        from autoseg.utils.files import is_disk_failure, write_failure

        if is_disk_failure(error):
            raise write_failure(path, error.strerror or str(error)) from None
        raise


def _release(path: Path, fd: int) -> None:
    try:
        if _same_file(fd, path):
            path.unlink()  # while still locked, so no one can lock this file and believe it guards the output
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _read(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 65536).decode("utf-8", errors="replace")
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def _write(fd: int, holder: dict) -> None:
    data = json.dumps(holder).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
