"""The training cases of one fold, read from the preprocessed cache: in memory when they fit, else memory-mapped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError
from autoseg.layout.work import MODELS, SPLITS, VALIDATION, model_dir
from autoseg.preprocessing.cache import is_cached, load_case, stale_cache_problem
from autoseg.schema.splits_file import read_splits
from autoseg.utils.safe_names import inside

# Load every case into RAM below this total size; above it, read patches from memory-mapped files.
IN_MEMORY_LIMIT_BYTES = 4 * 2**30


@dataclass
class TrainingCase:
    case_id: str
    image: np.ndarray  # (C, Z, Y, X) float32
    seg: np.ndarray  # (Z, Y, X) int8
    locations: dict[int, np.ndarray]  # class -> (n, 3) voxel coordinates
    properties: dict[str, Any]


def load_cases(folder: Path, case_ids: list[str]) -> list[TrainingCase]:
    work = folder.parent.parent
    stale = stale_cache_problem(folder)
    if stale:
        raise AutosegError(stale, folder, f"rebuild it with 'autoseg preprocess {work} -c {folder.name}'")
    missing = [c for c in case_ids if not is_cached(folder, c)]
    if missing:
        raise AutosegError(
            f"{len(missing)} case(s) are not preprocessed, e.g. {missing[:3]}",
            folder,
            f"run 'autoseg preprocess {work}' (it resumes preprocessing), or check splits.json",
        )
    total = sum((folder / f"{c}.npy").stat().st_size for c in case_ids)
    in_memory = total < IN_MEMORY_LIMIT_BYTES
    cases = []
    for case_id in case_ids:
        image, seg, properties = load_case(folder, case_id, mmap=True)
        if in_memory:
            image, seg = np.ascontiguousarray(image), np.ascontiguousarray(seg)
        locations = {
            int(k): np.asarray(v, dtype=np.int64).reshape(-1, 3)
            for k, v in properties.get("class_locations", {}).items()
        }
        cases.append(TrainingCase(case_id, image, seg, locations, properties))
    return cases


def add_previous_stage(cases: list[TrainingCase], work: Path, plans, config) -> None:
    """Cascade: append the previous stage's out-of-fold prediction of every case as one-hot channels (region
    masks when the plan trains regions).

    Each case's input is the prediction of the previous-stage fold that held the case out (its validation
    output), as in nnU-Net: a prediction by a model that trained on the case would be unrealistically good, and
    the cascade would learn to trust it more than it deserves at test time."""
    from autoseg.data.image_io import read_label
    from autoseg.labels import label_manager
    from autoseg.preprocessing.case import label_on_preprocessed_grid

    predictions = out_of_fold_predictions(work, plans, config, [c.case_id for c in cases])
    for case in cases:
        label, _ = read_label(predictions[case.case_id])
        grid = label_on_preprocessed_grid(label, case.properties, plans, config)
        case.image = np.concatenate([np.asarray(case.image), label_manager(plans).cascade_channels(grid)])


def out_of_fold_predictions(work: Path, plans, config, case_ids: list[str]) -> dict[str, Path]:
    """case -> the validation prediction of config's previous stage by the fold whose validation set holds the
    case (per splits.json). Predictions in a fold's validation folder of cases that fold trained on are never
    used; a case no trained fold held out is an error naming the folds to train."""
    previous = config.previous_stage
    splits = read_splits(work / SPLITS)
    found: dict[str, Path] = {}
    needed: dict[str, set[int]] = {}
    for fold, split in enumerate(splits):
        folder = model_dir(work, previous, fold) / VALIDATION
        for case_id in split["val"]:
            path = inside(folder, folder / f"{case_id}{plans.file_ending}", "case id", work / SPLITS)
            if path.is_file():
                found.setdefault(case_id, path)
            else:
                needed.setdefault(case_id, set()).add(fold)
    missing = [c for c in case_ids if c not in found]
    if missing:
        folds = sorted({f for c in missing for f in needed.get(c, ())})
        fix = (
            (
                f"train those folds of {previous} first (validation on): autoseg train {work} -c {previous} -f "
                + " ".join(map(str, folds))
            )
            if folds
            else "no fold of splits.json holds these cases out; re-plan with splits whose validation sets cover them"
        )
        raise AutosegError(
            f"{config.name} needs {previous}'s out-of-fold prediction of every "
            f"training case; {len(missing)} missing (e.g. {missing[:3]}), held out by fold(s) "
            f"{folds}",
            work / MODELS / previous,
            fix,
        )
    return found


def previous_stage_folds(splits: list[dict], folds: list[int]) -> list[int]:
    """The previous-stage folds a cascade trained on `folds` needs: every fold holding out one of their training
    cases (their out-of-fold inputs) and the folds themselves (their validation cases' inputs at prediction)."""
    wanted = set(folds)
    for fold in folds:
        train = set(splits[fold]["train"])
        wanted |= {k for k, split in enumerate(splits) if train & set(split["val"])}
    return sorted(wanted)
