"""Checkpoints: everything needed to continue a run exactly where it stopped, written atomically.

checkpoint_latest.pt (every epoch), checkpoint_best.pt (best smoothed pseudo-Dice), checkpoint_final.pt (end of
run). A kill at any moment leaves the previous complete file in place.

Checkpoints hold only tensors and plain Python values (the RNG states included), so they load with
torch.load(weights_only=True) (autoseg/utils/torch_files.py): a checkpoint from someone else cannot run code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoseg.errors import AutosegError
from autoseg.layout.work import CHECKPOINT_BEST, CHECKPOINT_FINAL, CHECKPOINT_LATEST
from autoseg.utils.files import atomic_write
from autoseg.utils.torch_files import safe_torch_load

LATEST, BEST, FINAL = CHECKPOINT_LATEST, CHECKPOINT_BEST, CHECKPOINT_FINAL
FORMAT = 2  # 1: older autoseg (numpy RNG state as an array, needs an unsafe load); 2: tensors and plain values


def rng_state() -> dict[str, Any]:
    """Every RNG a run draws from, as tensors and plain values (numpy's key array as an int64 tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "internal": list(internal), "gauss": python_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def plain(value: Any) -> Any:
    """numpy scalars and arrays (pseudo-Dice values, counts) as Python values, so the file loads weights-only."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    state = {**plain(state), "format": FORMAT}
    atomic_write(path, lambda tmp: torch.save(state, tmp), suffix=".pt")


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AutosegError("checkpoint not found", path, "train this configuration and fold first")
    return safe_torch_load(path)
