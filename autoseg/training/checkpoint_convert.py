"""`autoseg convert-checkpoint FILE --trust`: rewrite a checkpoint of an older autoseg (or another tool) so that
it loads weights-only. This is the one place autoseg unpickles a file unsafely, and only when the user says they
trust it: the old file is read once with weights_only=False, its RNG state and numpy values become tensors and
plain values, and the result replaces it atomically (the original is kept as FILE.unsafe)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoseg.errors import AutosegError
from autoseg.training.checkpoint import save_checkpoint
from autoseg.utils.torch_files import safe_torch_load


def convert_checkpoint(path: str | Path, trust: bool = False) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AutosegError("checkpoint not found", path, "check the path")
    if not trust:
        raise AutosegError(
            "converting reads the file with an unsafe load, which runs any code it carries",
            path,
            "pass --trust only if you made the file yourself or trust where it came from",
        )
    try:
        safe_torch_load(path)
        return path  # already safe: nothing to do
    except AutosegError:
        pass
    state = torch.load(path, map_location="cpu", weights_only=False)  # the user vouched for this file
    if not isinstance(state, dict) or "weights" not in state:
        raise AutosegError("not an autoseg checkpoint (no 'weights')", path, "convert autoseg checkpoints only")
    if "rng" in state:
        state["rng"] = _rng_as_plain(state["rng"])
    backup = path.with_name(path.name + ".unsafe")
    shutil.copy2(path, backup)
    save_checkpoint(path, state)
    safe_torch_load(path)  # proves the result loads weights-only
    return backup


def _rng_as_plain(rng: dict[str, Any]) -> dict[str, Any]:
    """Format 1 stored np.random.get_state() and random.getstate() as they are; format 2 as tensors/lists."""
    kind, keys, pos, has_gauss, gauss = rng["numpy"]
    version, internal, python_gauss = rng["python"]
    return {
        "torch": rng["torch"],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys).astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": int(version), "internal": [int(v) for v in internal], "gauss": python_gauss},
    }
