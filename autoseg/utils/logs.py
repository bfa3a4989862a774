"""Logging: every stage logs what it decided and why, to the console and to a log file in WORK."""

from __future__ import annotations

import logging
from pathlib import Path

LOGGER = "autoseg"


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER}.{name}" if name else LOGGER)


def setup_console(verbose: bool = True) -> None:
    root = logging.getLogger(LOGGER)
    if any(getattr(h, "_autoseg_console", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._autoseg_console = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False  # libraries that configure the root logger must not print our lines twice


def log_to_file(path: str | Path) -> logging.Handler:
    """Add a file handler for one stage; the caller removes it with `remove_handler` when the stage ends."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger(LOGGER)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    logging.getLogger(LOGGER).removeHandler(handler)
    handler.close()
