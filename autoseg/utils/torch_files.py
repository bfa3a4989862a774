"""Reading .pt files safely: torch.load(weights_only=True) only, so a file from someone else cannot run code.

A weights-only load rebuilds tensors and plain containers (dict, list, tuple, str, int, float, bool, None) and
refuses any other Python object *before* creating it, so a pickled callable (a __reduce__ that would call
os.system, say) is never executed. Files that need more were written by an older autoseg (its checkpoints held
the numpy RNG state as an array) or by someone else's code; they are refused with the command that converts a
file the user trusts.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from autoseg.errors import AutosegError

CONVERT_HINT = (
    "retrain, or, only if you trust where this file came from, convert it once with "
    "'autoseg convert-checkpoint {path} --trust'"
)


def safe_torch_load(source: str | Path | bytes, name: str | Path | None = None) -> Any:
    """torch.load with weights_only=True on a path or on bytes (a member of a model zip); `name` is what the
    error messages call the file."""
    name = str(name or source)
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        return torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise AutosegError(
            f"refused to load: the file holds Python objects that only an unsafe load would "
            f"create ({_first_line(error)})",
            name,
            CONVERT_HINT.format(path=name),
        ) from None
    except Exception as error:  # truncated, not a torch file, or a different format
        raise AutosegError(
            f"cannot be read as a PyTorch file ({type(error).__name__})", name, "copy it again, or retrain"
        ) from None


def _first_line(error: Exception) -> str:
    """torch's message is a page long; the Python object it refused is what the user needs to see."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return f"it refers to {found.group(1)}" if found else type(error).__name__
