"""`autoseg plan` (and autoseg.plan): plan a dataset into WORK (autoseg/planning/run.py), then write the
preprocessed cache of the chosen configurations (autoseg/preprocessing/cache.py). It lives above both layers so
that planning never calls up into preprocessing."""

from __future__ import annotations

import time
from pathlib import Path

from autoseg.layout.work import PLAN_LOG
from autoseg.planning.run import check_replan, plan_dataset
from autoseg.preprocessing.cache import preprocess_dataset
from autoseg.schema.plans import Plans
from autoseg.utils.locks import refuse_file_in_place
from autoseg.utils.logs import get_logger, log_to_file, remove_handler

log = get_logger("plan")


def plan(
    dataset: str | Path,
    work: str | Path,
    preset: str = "default",
    device: str = "auto",
    time_budget: str | float | None = None,
    gpu_memory_gb: float | None = None,
    cpu_gflops: float | None = None,
    configurations: list[str] | None = None,
    split_mode: str = "auto",
    splits_file: str | Path | None = None,
    groups_file: str | Path | None = None,
    folds: int = 5,
    seed: int = 0,
    preprocess: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
    regions_file: str | Path | None = None,
    plans_from: str | Path | None = None,
) -> Plans:
    """Plan a dataset into WORK; returns the Plans written to WORK/plans.json.

    `regions_file`: region-based labels overriding dataset.json's (autoseg/labels/region_sets.py).
    `plans_from`: another WORK folder or plans.json whose configurations are transferred (plans_transfer.py)."""
    work = Path(work)
    check_replan(work, overwrite)
    refuse_file_in_place(work, "WORK folder")
    work.mkdir(parents=True, exist_ok=True)
    handler = log_to_file(work / PLAN_LOG)
    try:
        started = time.time()
        plans, info = plan_dataset(
            dataset,
            work,
            preset=preset,
            device=device,
            time_budget=time_budget,
            gpu_memory_gb=gpu_memory_gb,
            cpu_gflops=cpu_gflops,
            split_mode=split_mode,
            splits_file=splits_file,
            groups_file=groups_file,
            folds=folds,
            seed=seed,
            workers=workers,
            progress=progress,
            regions_file=regions_file,
            plans_from=plans_from,
        )
        if preprocess:
            chosen = configurations or list(plans.configurations)
            preprocess_dataset(info, plans, work, chosen, workers=workers, progress=progress)
        log.info("plan finished in %.0f s", time.time() - started)
        return plans
    finally:
        remove_handler(handler)
