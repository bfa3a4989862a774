"""The preprocessed cache (WORK/preprocessed/<data_identifier>/): per case `<id>.npy` (float32 image,
(C, Z, Y, X)), `<id>_seg.npy` (int8 labels) and `<id>.json` (properties), memory-mappable for fast patch reads.
The JSON is written last, so a case counts as done only when all three are complete (resumable).

Each folder also holds `signature.json`: what its arrays depend on in the plan (dataset, transpose, spacing,
normalisation, resampling ...). A folder whose signature differs from the current plan's is rebuilt, and a case
whose raw files changed (size or modification time) is preprocessed again; training refuses a stale folder."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from autoseg.data.dataset import Case, DatasetInfo, read_case
from autoseg.data.file_stamps import source_stamps
from autoseg.data.image_io import read_label
from autoseg.layout.work import PLANS, PREPROCESSED
from autoseg.preprocessing.case import preprocess_arrays
from autoseg.preprocessing.memory_plan import plan_workers
from autoseg.schema.convert import to_dict
from autoseg.schema.plans import Configuration, Plans, load_plans
from autoseg.utils.files import atomic_write, read_json, remove_partial_writes, write_json
from autoseg.utils.locks import output_locks
from autoseg.utils.logs import get_logger
from autoseg.utils.owned import mark_owned, remove_owned
from autoseg.utils.peak_memory import PeakMemory
from autoseg.utils.safe_names import child_path, inside

log = get_logger("preprocess")

SIGNATURE_FILE = "signature.json"


def cache_dir(work: str | Path, config: Configuration) -> Path:
    # data_identifier comes from plans.json, which may have been edited or shipped by someone else
    return child_path(Path(work) / PREPROCESSED, config.data_identifier, "data_identifier", Path(work) / PLANS)


def case_file(folder: Path, case_id: str, suffix: str) -> Path:
    """folder/<case_id><suffix>, checked to stay in `folder`: case ids come from dataset.json and splits.json."""
    return inside(folder, folder / f"{case_id}{suffix}", "case id")


def save_array(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.save(tmp, array), suffix=".npy")


def load_case(folder: Path, case_id: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    mode = "r" if mmap else None
    image = np.load(case_file(folder, case_id, ".npy"), mmap_mode=mode)
    seg = np.load(case_file(folder, case_id, "_seg.npy"), mmap_mode=mode)
    return image, seg, read_json(case_file(folder, case_id, ".json"), "case properties")


def is_cached(folder: Path, case_id: str) -> bool:
    return case_file(folder, case_id, ".json").is_file()


def cache_signature(plans: Plans, config: Configuration) -> dict[str, Any]:
    """Every plan field the cached arrays of `config` depend on (JSON-plain, so it compares equal after a round
    trip through signature.json). Patch, batch, network and training choices are not in it: they do not change
    the arrays."""
    return to_dict(
        {
            "dataset_path": plans.dataset_path,
            "channel_names": plans.channel_names,
            "labels": plans.labels,
            "ignore_label": plans.ignore_label,
            "transpose_forward": plans.transpose_forward,
            "data_identifier": config.data_identifier,
            "spacing": [float(s) for s in config.spacing],
            "normalization": [_without_default_background(n) for n in to_dict(config.normalization)],
            "resampling": config.resampling,
        }
    )


def _without_default_background(norm: dict[str, Any]) -> dict[str, Any]:
    """A channel without a constant background signs as before that field existed, so caches made then stay
    valid."""
    return {k: v for k, v in norm.items() if not (k == "constant_background" and v is False)}


def read_signature(folder: Path) -> dict[str, Any] | None:
    path = folder / SIGNATURE_FILE
    return read_json(path, "cache signature") if path.is_file() else None


def stale_cache_problem(folder: Path) -> str | None:
    """Why the cache in `folder` (WORK/preprocessed/<id>) does not match WORK/plans.json, or None when it does
    (or when there is no plan next to it to compare with)."""
    plans_path = folder.parent.parent / PLANS
    if not plans_path.is_file():
        return None
    plans = load_plans(folder.parent.parent)
    expected = [cache_signature(plans, c) for c in plans.configurations.values() if c.data_identifier == folder.name]
    if not expected:
        return None
    stored = read_signature(folder)
    if stored is None:
        return f"the preprocessed cache has no {SIGNATURE_FILE}, so it may have been made for another plan"
    if stored in expected:
        return None
    differing = sorted(k for k in set(stored) | set(expected[0]) if stored.get(k) != expected[0].get(k))
    return f"the preprocessed cache was made for another plan or dataset (differs in {', '.join(differing)})"


def _is_current(folder: Path, case: Case) -> bool:
    """Cached, and made from the raw files as they are now."""
    if not is_cached(folder, case.case_id):
        return False
    properties = read_json(case_file(folder, case.case_id, ".json"), "case properties")
    return properties.get("source_files") == source_stamps(case)


def _prepare_folder(folder: Path, signature: dict[str, Any]) -> None:
    """Empty the folder when it was made for another plan, and record what it is made for now.

    The signature is written before any case, so an interrupted rebuild resumes instead of starting again."""
    stored = read_signature(folder)
    if stored == signature:
        return
    if folder.exists():
        log.info("%s was preprocessed for another plan or dataset: rebuilding it", folder)
        # a cache made before the ownership marker existed is recognised by its signature.json
        remove_owned(
            folder,
            "this preprocessed cache",
            protected=[folder.parent.parent],
            legacy=lambda f: (f / SIGNATURE_FILE).is_file(),
        )
    mark_owned(folder, "autoseg preprocess (a cache of preprocessed cases)")
    write_json(folder / SIGNATURE_FILE, signature)


def _preprocess_one(case: Case, info: DatasetInfo, plans: Plans, config: Configuration, folder: Path, seed: int) -> str:
    image, geometry = read_case(case, info)
    label, _ = read_label(case.label_file)
    data, seg, properties = preprocess_arrays(image, geometry, plans, config, label, seed)
    save_array(case_file(folder, case.case_id, ".npy"), data)
    save_array(case_file(folder, case.case_id, "_seg.npy"), seg)
    properties["case_id"] = case.case_id
    properties["source_files"] = source_stamps(case)
    write_json(case_file(folder, case.case_id, ".json"), properties)
    return case.case_id


def _preprocess_cases(
    todo: list[Case],
    seeds: list[int],
    info: DatasetInfo,
    plans: Plans,
    config: Configuration,
    folder: Path,
    workers: int,
    progress: bool,
) -> None:
    """Stream the cases through at most as many workers as memory allows, each holding one case at a time
    (results are just case ids), and log the time and peak RAM of the whole stage."""
    bounded = plan_workers(todo, plans, config, workers)
    log.info("%s: %s", config.data_identifier, bounded.words())
    desc = f"preprocess {config.data_identifier}"
    started = time.perf_counter()
    with PeakMemory() as peak:
        if bounded.workers > 1:
            with ProcessPoolExecutor(bounded.workers) as pool:
                jobs = pool.map(
                    _preprocess_one,
                    todo,
                    [info] * len(todo),
                    [plans] * len(todo),
                    [config] * len(todo),
                    [folder] * len(todo),
                    seeds,
                    chunksize=1,
                )
                for _ in tqdm(jobs, total=len(todo), desc=desc, disable=not progress):
                    pass
        else:
            for case, seed in tqdm(list(zip(todo, seeds)), desc=desc, disable=not progress):
                _preprocess_one(case, info, plans, config, folder, seed)
    log.info(
        "%s: preprocessed %d case(s) in %.1f s, %s",
        config.data_identifier,
        len(todo),
        time.perf_counter() - started,
        peak.words(),
    )


def preprocess_dataset(
    info: DatasetInfo,
    plans: Plans,
    work: str | Path,
    configurations: list[str],
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Preprocess every training case for each configuration's data (shared data is written once), skipping
    cases already cached from unchanged files under the same plan. Each folder is locked meanwhile: a second
    plan/preprocess of the same WORK is refused naming this one."""
    folders = [cache_dir(work, plans.configuration(name)) for name in configurations]
    with output_locks(folders, "preprocessed configuration"):
        return _preprocess_locked(info, plans, work, configurations, workers, progress)


def _preprocess_locked(
    info: DatasetInfo,
    plans: Plans,
    work: str | Path,
    configurations: list[str],
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    workers = workers or min(2, os.cpu_count() or 1)
    done: dict[str, Path] = {}
    for name in configurations:
        config = plans.configuration(name)
        if config.data_identifier in done:
            continue
        folder = cache_dir(work, config)
        _prepare_folder(folder, cache_signature(plans, config))
        remove_partial_writes(folder)  # of a killed run; the folder is locked
        # Each case's seed follows its place in the dataset, so a resumed run samples as an uninterrupted one.
        order = {c.case_id: i for i, c in enumerate(info.training)}
        todo = [c for c in info.training if not _is_current(folder, c)]
        seeds = [plans.seed + order[c.case_id] for c in todo]
        log.info("%s: %d of %d case(s) to preprocess", folder, len(todo), len(info.training))
        if todo:
            _preprocess_cases(todo, seeds, info, plans, config, folder, workers, progress)
        done[config.data_identifier] = folder
    return done
