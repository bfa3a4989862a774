"""The training cases of one fold, read from the preprocessed cache: in memory when they fit, else memory-mapped."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError
from autoseg.preprocessing.cache import is_cached, load_case, stale_cache_problem

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
    work = folder.parent.parent
    stale = stale_cache_problem(folder)
    if stale:
        raise AutosegError(stale, folder, f"rebuild it with 'autoseg preprocess {work} -c {folder.name}'")
    missing = [c for c in case_ids if not is_cached(folder, c)]
    if missing:
        raise AutosegError(f"{len(missing)} case(s) are not preprocessed, e.g. {missing[:3]}", folder,
                           f"run 'autoseg preprocess {work}' (it resumes preprocessing), or check splits.json")
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


def add_previous_stage(cases: list[TrainingCase], work: Path, plans, config) -> None:
    """Cascade: append the previous stage's cross-validation prediction of every case as one-hot channels (region
    masks when the plan trains regions).

    Each training case must have been predicted by a previous-stage model that did not train on it (its fold's
    validation output), as in nnU-Net: otherwise the cascade would learn from unrealistically good inputs."""
    from autoseg.data.image_io import read_label
    from autoseg.inference.regions import stage_input
    from autoseg.preprocessing.case import label_on_preprocessed_grid

    previous = config.previous_stage
    predictions = {p.name.removesuffix(plans.file_ending): p
                   for p in (work / "models" / previous).glob(f"fold_*/validation/*{plans.file_ending}")}
    missing = [c.case_id for c in cases if c.case_id not in predictions]
    if missing:
        raise AutosegError(f"{config.name} needs {previous}'s cross-validation prediction of every training case; "
                           f"{len(missing)} missing (e.g. {missing[:3]})", work / "models" / previous,
                           f"train every fold of {previous} first: autoseg train WORK -c {previous} -f 0 1 2 3 4")
    for case in cases:
        label, _ = read_label(predictions[case.case_id])
        grid = label_on_preprocessed_grid(label, case.properties, plans, config)
        case.image = np.concatenate([np.asarray(case.image), stage_input(grid, plans)])
