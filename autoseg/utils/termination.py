"""SIGTERM ends an autoseg command the way Ctrl-C does.

Python's default SIGTERM ends the process on the spot: no `finally`, no cleanup. A batch system's time limit, a
`kill` or torchrun stopping its workers sends SIGTERM, and then a benchmark or a schedule left its running stage
(a training, a prediction) behind as an orphan that kept the CPU and its output's lock. Raised as an exception
instead, SIGTERM unwinds like an interrupt: stages are stopped, locks released, partial files removed.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; a KeyboardInterrupt so every cleanup written for Ctrl-C runs for it too."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block (main thread only; elsewhere a no-op), SIGTERM raises Terminated."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
