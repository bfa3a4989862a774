"""Planning a dataset into WORK: verify -> fingerprint -> plans -> splits, each written to WORK. The `autoseg plan`
command adds the preprocessed cache on top (autoseg/plan_command.py, above both planning and preprocessing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autoseg.data.dataset import DatasetInfo, load_dataset
from autoseg.data.verify import verify_dataset
from autoseg.errors import AutosegError
from autoseg.layout.work import FINGERPRINT, PLANS, SPLITS
from autoseg.planning.budget import (
    DeviceBudget,
    cpu_name,
    cuda_budget,
    detect_device,
    planned_gpu_budget,
    training_threads,
)
from autoseg.planning.fingerprint import compute_fingerprint, fingerprint_matches
from autoseg.planning.measure_cache import CACHE_FILE, MeasurementCache
from autoseg.planning.planner import plan_configurations
from autoseg.planning.plans_transfer import load_source_plans, transfer_configurations
from autoseg.planning.presets import load_preset
from autoseg.planning.region_choice import apply_regions, choose_regions
from autoseg.planning.splits import check_split_options, choose_split_mode, load_user_splits, make_splits
from autoseg.schema.load import load_validated_data
from autoseg.schema.plans import PLANS_VERSION, Plans, save_plans
from autoseg.schema.splits_file import GroupsFile
from autoseg.utils.durations import parse_duration
from autoseg.utils.files import read_json, write_json
from autoseg.utils.logs import get_logger

log = get_logger("plan")


def check_replan(work: Path, overwrite: bool) -> None:
    """Refuse to plan over an existing plan unless asked to (before any file is written)."""
    if (work / PLANS).exists() and not overwrite:
        raise AutosegError(
            "plans.json already exists",
            work / PLANS,
            "choose another -o WORK folder, or pass --overwrite to re-plan (models trained on the "
            "old plan are kept but may no longer match it)",
        )


def plan_dataset(
    dataset: str | Path,
    work: Path,
    *,
    preset: str = "default",
    device: str = "auto",
    time_budget: str | float | None = None,
    gpu_memory_gb: float | None = None,
    cpu_gflops: float | None = None,
    split_mode: str = "auto",
    splits_file: str | Path | None = None,
    groups_file: str | Path | None = None,
    folds: int = 5,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    regions_file: str | Path | None = None,
    plans_from: str | Path | None = None,
) -> tuple[Plans, DatasetInfo]:
    """Plan a dataset into WORK (which exists); returns the Plans written to WORK/plans.json and the dataset.
    The options are autoseg.plan_command.plan's."""
    # Flags are checked before verify and fingerprint, which take minutes on a large dataset.
    preset_data = load_preset(preset)
    budget = _budget(device, preset_data, time_budget, gpu_memory_gb, cpu_gflops)
    source_plans = load_source_plans(plans_from) if plans_from else None
    if not splits_file:
        check_split_options(folds, split_mode, bool(groups_file))
    info, regions = _checked_dataset(dataset, regions_file, workers, progress)
    fingerprint = _fingerprint(info, work, seed, workers, progress)
    # A transferred plan (--plans-from) keeps the other plan's sizes: measuring this CPU would size nothing.
    measurements = None if (budget.kind != "cpu" or cpu_gflops or source_plans) else MeasurementCache(work / CACHE_FILE)
    decided = plan_configurations(
        fingerprint, preset_data, budget, measurements.rate if measurements else None, seed=seed
    )
    if measurements is not None:
        log.info("device: %s", measurements.summary())
    if source_plans:
        decided = transfer_configurations(*source_plans, decided, fingerprint)
        log.info("plans transferred from %s: configurations %s", source_plans[1], list(decided["configurations"]))
    apply_regions(decided["configurations"], regions[0], info.num_classes)
    plans = _plans(info, dataset, decided, preset_name=preset_data["name"], budget=budget, seed=seed, regions=regions)
    plans.split_mode = _write_splits(
        work,
        fingerprint,
        [c.case_id for c in info.training],
        split_mode=split_mode,
        splits_file=splits_file,
        groups_file=groups_file,
        folds=folds,
        seed=seed,
    )
    save_plans(plans, work)
    log.info("wrote %s", work / PLANS)
    return plans, info


def _checked_dataset(dataset: str | Path, regions_file, workers: int | None, progress: bool):
    """The dataset, verified, and its regions choice (regions, class order, source, note)."""
    info = load_dataset(dataset)
    log.info(
        "dataset %s: %d training cases, %d channel(s) %s, labels %s (%s layout)",
        info.name,
        len(info.training),
        info.num_channels,
        info.channel_names,
        info.labels,
        info.layout,
    )
    regions = choose_regions(info, regions_file)
    log.info("labels: %s", regions[3])
    report = verify_dataset(info, max_workers=workers or 2, progress=progress)
    report.raise_if_problems()
    log.info("verify: no problems found")
    return info, regions


def _plans(
    info: DatasetInfo, dataset: str | Path, decided: dict[str, Any], *, preset_name: str, budget, seed: int, regions
) -> Plans:
    regions_value, regions_order, regions_source, _ = regions
    return Plans(
        version=PLANS_VERSION,
        dataset_name=info.name,
        dataset_path=str(Path(dataset).resolve()),
        layout=info.layout,
        file_ending=info.file_ending,
        channel_names=info.channel_names,
        labels=info.labels,
        transpose_forward=decided["transpose_forward"],
        transpose_backward=decided["transpose_backward"],
        preset=preset_name,
        device=budget.to_dict(),
        seed=seed,
        configurations=decided["configurations"],
        ignore_label=info.ignore_label,
        regions=regions_value,
        regions_class_order=regions_order,
        regions_source=regions_source,
    )


def _fingerprint(info: DatasetInfo, work: Path, seed: int, workers: int | None, progress: bool) -> dict[str, Any]:
    path = work / FINGERPRINT
    if path.is_file():
        old = read_json(path, "fingerprint")
        if fingerprint_matches(old, info, seed):
            log.info("fingerprint: reusing %s (same dataset, labels, channels, files and seed)", path)
            return old
        log.info("fingerprint: %s describes other data or another seed; measuring again", path)
    fingerprint = compute_fingerprint(info, seed=seed, workers=workers, progress=progress)
    write_json(path, fingerprint)
    log.info(
        "fingerprint: median spacing %s, median shape %s (after cropping %s)",
        fingerprint["median_spacing"],
        fingerprint["median_shape"],
        fingerprint["median_cropped_shape"],
    )
    return fingerprint


def _budget(device: str, preset: dict[str, Any], time_budget, gpu_memory_gb, cpu_gflops) -> DeviceBudget:
    kind = detect_device(device)
    if kind == "cuda" and not torch.cuda.is_available():
        budget = planned_gpu_budget(gpu_memory_gb)
    elif kind == "cuda":
        budget = cuda_budget(gpu_memory_gb or preset["gpu"]["memory_gb"])
    else:
        seconds = parse_duration(time_budget) or float(preset["cpu"]["time_budget_s"])
        budget = DeviceBudget(
            kind="cpu",
            name=cpu_name(),
            time_budget_s=seconds,
            usable_fraction=preset["cpu"]["usable_fraction"],
            threads=training_threads(),
        )
        if cpu_gflops:
            budget.flops_per_s = {"2d": cpu_gflops * 1e9, "3d": cpu_gflops * 1e9}
            budget.notes.append(f"CPU speed given by the user: {cpu_gflops} GFLOP/s")
    for note in budget.notes:
        log.info("device: %s", note)
    return budget


def _write_splits(
    work: Path,
    fingerprint: dict[str, Any],
    case_ids: list[str],
    *,
    split_mode: str,
    splits_file,
    groups_file,
    folds: int,
    seed: int,
) -> str:
    if splits_file:
        splits = load_user_splits(splits_file, case_ids)
        mode, reason = "user", f"taken from {splits_file}"
    else:
        # validated (plain case ids; a group is a string or a number, compared as text so both may mix)
        groups = (
            {case: str(group) for case, group in load_validated_data(groups_file, GroupsFile, "groups file").items()}
            if groups_file
            else None
        )
        mode, reason = choose_split_mode(fingerprint, "grouped" if groups and split_mode == "auto" else split_mode)
        splits = make_splits(case_ids, folds, seed=12345 + seed, mode=mode, groups=groups)
    write_json(work / SPLITS, splits)
    log.info("splits: %d folds, %s (%s)", len(splits), mode, reason)
    return mode
