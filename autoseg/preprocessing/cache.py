"""The preprocessed cache (WORK/preprocessed/<data_identifier>/): per case `<id>.npy` (float32 image,
(C, Z, Y, X)), `<id>_seg.npy` (int8 labels) and `<id>.json` (properties), memory-mappable for fast patch reads.
The JSON is written last, so a case counts as done only when all three are complete (resumable)."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from autoseg.data.dataset import Case, DatasetInfo, read_case
from autoseg.data.image_io import read_label
from autoseg.preprocessing.case import preprocess_arrays
from autoseg.schema.plans import Configuration, Plans
from autoseg.utils.files import atomic_write, read_json, write_json


def cache_dir(work: str | Path, config: Configuration) -> Path:
    return Path(work) / "preprocessed" / config.data_identifier


def save_array(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.save(tmp, array), suffix=".npy")


def load_case(folder: Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    mode = "r" if mmap else None
    image = np.load(folder / f"{case_id}.npy", mmap_mode=mode)
    seg = np.load(folder / f"{case_id}_seg.npy", mmap_mode=mode)
    return image, seg, read_json(folder / f"{case_id}.json", "case properties")


def is_cached(folder: Path, case_id: str) -> bool:
    return (folder / f"{case_id}.json").is_file()


def _preprocess_one(case: Case, info: DatasetInfo, plans: Plans, config: Configuration, folder: Path,
                    seed: int) -> str:
    image, geometry = read_case(case, info)
    label, _ = read_label(case.label_file)
    data, seg, properties = preprocess_arrays(image, geometry, plans, config, label, seed)
    save_array(folder / f"{case.case_id}.npy", data)
    save_array(folder / f"{case.case_id}_seg.npy", seg)
    properties["case_id"] = case.case_id
    write_json(folder / f"{case.case_id}.json", properties)
    return case.case_id


def preprocess_dataset(info: DatasetInfo, plans: Plans, work: str | Path, configurations: list[str],
                       workers: int | None = None, progress: bool = True) -> dict[str, Path]:
    """Preprocess every training case for each configuration's data (shared data is written once)."""
    workers = workers or min(2, os.cpu_count() or 1)
    done: dict[str, Path] = {}
    for name in configurations:
        config = plans.configuration(name)
        if config.data_identifier in done:
            continue
        folder = cache_dir(work, config)
        folder.mkdir(parents=True, exist_ok=True)
        todo = [c for c in info.training if not is_cached(folder, c.case_id)]
        seeds = [plans.seed + i for i in range(len(todo))]
        desc = f"preprocess {config.data_identifier}"
        if workers > 1 and len(todo) > 2:
            # Bounded memory: each worker holds one case at a time; results are just case ids.
            with ProcessPoolExecutor(workers) as pool:
                jobs = pool.map(_preprocess_one, todo, [info] * len(todo), [plans] * len(todo),
                                [config] * len(todo), [folder] * len(todo), seeds, chunksize=2)
                for _ in tqdm(jobs, total=len(todo), desc=desc, disable=not progress):
                    pass
        else:
            for case, seed in tqdm(list(zip(todo, seeds)), desc=desc, disable=not progress):
                _preprocess_one(case, info, plans, config, folder, seed)
        done[config.data_identifier] = folder
    return done
