"""The training cases of one fold, read from the preprocessed cache: in memory when they fit, else memory-mapped."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError
from autoseg.preprocessing.cache import is_cached, load_case

# Load every case into RAM below this total size; above it, read patches from memory-mapped files.
IN_MEMORY_LIMIT_BYTES = 4 * 2**30


@dataclass
class TrainingCase:
    case_id: str
    image: np.ndarray            # (C, Z, Y, X) float32
    seg: np.ndarray              # (Z, Y, X) int8
    locations: dict[int, np.ndarray]  # class -> (n, 3) voxel coordinates
    properties: dict[str, Any]


def load_cases(folder: Path, case_ids: list[str]) -> list[TrainingCase]:
    missing = [c for c in case_ids if not is_cached(folder, c)]
    if missing:
        raise AutosegError(f"{len(missing)} case(s) are not preprocessed, e.g. {missing[:3]}", folder,
                           "run 'autoseg plan' again (it resumes preprocessing), or check splits.json")
    total = sum((folder / f"{c}.npy").stat().st_size for c in case_ids)
    in_memory = total < IN_MEMORY_LIMIT_BYTES
    cases = []
    for case_id in case_ids:
        image, seg, properties = load_case(folder, case_id, mmap=True)
        if in_memory:
            image, seg = np.ascontiguousarray(image), np.ascontiguousarray(seg)
        locations = {int(k): np.asarray(v, dtype=np.int64).reshape(-1, 3)
                     for k, v in properties.get("class_locations", {}).items()}
        cases.append(TrainingCase(case_id, image, seg, locations, properties))
    return cases
