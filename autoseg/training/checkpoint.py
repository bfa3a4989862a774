"""Checkpoints: everything needed to continue a run exactly where it stopped, written atomically.

checkpoint_latest.pt (every epoch), checkpoint_best.pt (best smoothed pseudo-Dice), checkpoint_final.pt (end of
run). A kill at any moment leaves the previous complete file in place.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoseg.errors import AutosegError
from autoseg.utils.files import atomic_write

LATEST, BEST, FINAL = "checkpoint_latest.pt", "checkpoint_best.pt", "checkpoint_final.pt"


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp), suffix=".pt")


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AutosegError("checkpoint not found", path, "train this configuration and fold first")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated file from another tool, or a different format
        raise AutosegError(f"checkpoint cannot be read ({type(error).__name__})", path,
                           "delete it and resume from another checkpoint, or retrain") from None
