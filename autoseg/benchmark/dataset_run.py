"""Benchmark one dataset: verify, plan, train, find-best, predict the held-out cases with and without TTA,
evaluate, overlays -- every stage an `autoseg` command in its own process (see stage.py), every number read back
from the artifacts the stages wrote.

A planned cascade is benchmarked like any configuration: its 3d_lowres stage is trained on every fold the
cascade's folds need (the folds that hold out their training cases: the cascade learns from out-of-fold
low-resolution predictions), and each stage's time and peak RAM is recorded.

Held-out cases: the dataset's imagesTs when every test image has a reference in labelsTs (predicted with every
benchmarked fold and find-best's postprocessing), else the validation cases of the benchmarked folds, each fold's
cases predicted by that fold's model. Postprocessing is then left out: find-best chose it on these same cases,
so it would flatter the score.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from autoseg.benchmark.heldout import HeldOutSet, choose_overlay_cases, heldout_set
from autoseg.benchmark.machine import load_average
from autoseg.benchmark.resume import resumed_jobs, schedule_started, training_state
from autoseg.benchmark.stage import StageResult, autoseg_command, log_tail, run_stage
from autoseg.benchmark.stage_dispatch import run_stage_on, train_side_by_side, training_jobs, training_stage_tasks
from autoseg.benchmark.stage_ledger import earlier_stages, running_record, save_stages
from autoseg.benchmark.throughput import training_throughput
from autoseg.data.dataset import DatasetInfo, load_dataset
from autoseg.errors import AutosegError
from autoseg.evaluation.overlays import save_overlays
from autoseg.labels import label_manager
from autoseg.layout.work import INFERENCE, PLANS, PREDICTION_REPORT, SCHEDULE, SPLITS, TRAINING_SUMMARY, model_dir
from autoseg.schema.inference_file import InferenceFile
from autoseg.schema.load import load_validated_data
from autoseg.schema.plans import Plans, load_plans
from autoseg.schema.schedule_file import ScheduleFile
from autoseg.schema.splits_file import read_splits
from autoseg.tracking.context import TrackingContext
from autoseg.utils.durations import format_duration, parse_duration
from autoseg.utils.files import read_json
from autoseg.utils.logs import get_logger

log = get_logger("benchmark")


@dataclass
class Settings:
    time_budget: str | float | None
    epochs: int | None
    configs: list[str] | None
    folds: list[int]
    preset: str
    device: str
    cpu_gflops: float | None
    progress: bool
    cv_folds: int | None = None  # folds the plan makes (plan --cv-folds); None: the planner's default
    regions_file: str | None = None  # plan --regions FILE: train and score regions
    total_budget: str | None = None  # one budget for the whole training (the scheduler); time_budget sizes the plan
    tracking: TrackingContext | None = None  # MLflow: the training stages log runs nested in the benchmark's
    resume: bool = False  # continue a killed benchmark in its REPORT folder (resume.py)


class Stages:
    """Runs the stages of one dataset in order, records each, and stops the dataset at the first failure."""

    def __init__(self, logs: Path, records: list[dict], dataset: str, report_dir: Path, progress: bool, executor=None):
        self.logs, self.records, self.dataset, self.report_dir, self.progress = (
            logs,
            records,
            dataset,
            report_dir,
            progress,
        )
        self.executor = executor  # None: each stage here, in turn; else on the cluster (stage_dispatch.py)

    def run(self, name: str, command: list[str]) -> StageResult:
        log_path = self._new_log(name)
        if self.progress:
            log.info("[%s] %s ... (log: %s)", self.dataset, name, log_path)
        ran_on = None
        if self.executor is None:
            # The ledger keeps this record if the benchmark is killed now; here it gives way to the measured one,
            # or to none if the stage could not start.
            self.records.append(running_record(name, command, str(log_path.relative_to(self.report_dir))))
            self.save()
            try:
                result = run_stage(name, command, log_path)
            finally:
                self.records.pop()
        else:
            result, ran_on = run_stage_on(self.executor, name, command, log_path)
        record = result.to_dict() | ({"ran_on": ran_on} if ran_on else {})
        record["log"] = str(Path(result.log).relative_to(self.report_dir))
        self.records.append(record)
        self.save()
        if self.progress:
            log.info(
                "[%s] %s: %s, peak RAM %.0f MB%s",
                self.dataset,
                name,
                format_duration(result.seconds),
                result.peak_ram_mb,
                "" if result.returncode == 0 else f", FAILED (exit {result.returncode})",
            )
        if result.returncode != 0:
            raise AutosegError(
                f"stage '{name}' failed (exit {result.returncode}): {log_tail(result.log)}",
                result.log,
                "read the stage's log; the command is on its first line",
            )
        return result

    def keep(self, name: str, log_path: Path) -> None:
        """Records a stage that finished before `benchmark --resume` and is not run again."""
        if self.progress:
            log.info("[%s] %s: finished before --resume, kept", self.dataset, name)
        kept = StageResult(name, [], 0.0, 0.0, 0.0, 0, str(log_path.relative_to(self.report_dir)))
        self.records.append(kept.to_dict() | {"kept": True})
        self.save()

    def save(self) -> None:
        save_stages(self.logs, self.records)

    def _new_log(self, name: str) -> Path:
        """The stage's log file; a resumed benchmark runs some stages again, and keeps the first run's logs."""
        stem = name.replace(" ", "_").replace("(", "").replace(")", "")
        path, copy = self.logs / f"{stem}.log", 2
        while path.exists():
            path, copy = self.logs / f"{stem}_{copy}.log", copy + 1
        return path


def benchmark_dataset(dataset: Path, key: str, report_dir: Path, settings: Settings, executor=None) -> dict[str, Any]:
    """The dataset's record for report.json; failures are recorded (status 'failed', error), not raised.
    `executor`: run the stages on it, the trainings side by side (stage_dispatch.py); None: here, in turn."""
    started = time.monotonic()
    record: dict[str, Any] = {
        "dataset": key,
        "path": str(dataset.resolve()),
        "status": "running",
        "error": None,
        "stages": [],
        "configurations": {},
        "skipped_configurations": {},
        "load_average_before": load_average(),
    }
    logs = report_dir / "logs" / key
    if settings.resume:  # the report shows the first run's stages before this run's
        record["stages"].extend(earlier_stages(logs))
    stages = Stages(logs, record["stages"], key, report_dir, settings.progress, executor)
    try:
        _run(dataset, key, report_dir, settings, record, stages)
        record["status"] = "ok"
    except AutosegError as error:
        record["status"], record["error"] = "failed", str(error)
        log.error("[%s] %s", key, error)
    record["load_average_after"] = load_average()
    record["wall_seconds"] = round(time.monotonic() - started, 1)
    return record


def _run(dataset: Path, key: str, report_dir: Path, settings: Settings, record: dict, stages: Stages) -> None:
    info = load_dataset(dataset)
    record.update(
        {
            "name": info.name,
            "layout": info.layout,
            "labels": info.labels,
            "num_training": len(info.training),
            "num_test": len(info.test),
        }
    )
    work = report_dir / "work" / key
    pictures = report_dir / key
    stages.run("verify", autoseg_command("verify", dataset))
    if settings.resume and (work / PLANS).is_file():  # the plan's preprocessing continues where it stopped
        stages.run("preprocess (resumed)", autoseg_command("preprocess", work))
    else:
        stages.run("plan", autoseg_command("plan", dataset, "-o", work, *_plan_options(settings)))
    plans = load_plans(work)
    if settings.total_budget:
        settings = _run_schedule(work, plans, settings, stages, record, pictures, report_dir)
    else:
        _train_each(work, plans, settings, stages, record, pictures, report_dir)
    selection = load_validated_data(work / INFERENCE, InferenceFile, INFERENCE)
    record["selection"] = {
        k: selection.get(k)
        for k in ("configurations", "cv_dice", "chosen_dice", "postprocessing", "inference_cost", "choice")
    }
    held_out = heldout_set(info, work, settings.folds)
    record["evaluation"] = _evaluate_held_out(
        info,
        dataset,
        work,
        held_out,
        selection,
        stages,
        settings,
        ["--regions", work / PLANS] if label_manager(plans).has_regions else [],
    )
    record["overlays"] = _overlays(info, held_out, work, pictures, report_dir)


def _train_each(
    work: Path, plans: Plans, settings: Settings, stages: Stages, record: dict, pictures: Path, report_dir: Path
) -> None:
    """The requested configurations on the requested folds, each with the same budget; then find-best."""
    names, skipped = choose_configurations(plans, settings.configs)
    record["skipped_configurations"] = skipped
    splits = read_splits(work / SPLITS)
    folds = training_folds(plans, names, splits, settings.folds)
    if stages.executor is not None:  # every training at once, a cascade fold after its inputs
        jobs = training_jobs(work, folds, settings.time_budget, settings.epochs, settings.device)
        jobs = resumed_jobs(jobs, work) if settings.resume else jobs
        previous = {n: plans.configurations[n].previous_stage for n in names}
        try:
            train_side_by_side(
                stages.executor,
                training_stage_tasks(jobs, previous, splits, settings.tracking),
                stages.records,
                report_dir,
            )
        finally:
            stages.save()
    for name in names:
        for fold in folds[name] if stages.executor is None else []:
            _train_fold(work, name, fold, settings, stages)
        record["configurations"][name] = _configuration_record(
            work, plans, name, settings, folds[name], pictures, report_dir
        )
    stages.run("find-best", autoseg_command("find-best", work, "-c", *names))


def _train_fold(work: Path, name: str, fold: int, settings: Settings, stages: Stages) -> None:
    stage, state = f"train {name} fold {fold}", training_state(work, name, fold) if settings.resume else "new"
    if state == "done":
        stages.keep(stage, stages.logs / f"train_{name}_fold_{fold}.log")
        return
    resume = ["--resume"] if state == "killed" else []
    stages.run(
        stage + (" (resumed)" if resume else ""),
        autoseg_command("train", work, "-c", name, "-f", fold, *_train_options(settings), *resume),
    )


def _run_schedule(
    work: Path, plans: Plans, settings: Settings, stages: Stages, record: dict, pictures: Path, report_dir: Path
) -> Settings:
    """One total budget (autoseg train WORK --total-budget, which ends with find-best); the folds it trained
    become the benchmarked folds (the held-out cases: the test set, else each fold's validation cases)."""
    stages.run(
        "schedule",
        autoseg_command(
            "train",
            work,
            "--total-budget",
            settings.total_budget,
            "--device",
            settings.device,
            *_tracking_options(settings),
            *(stages.executor.cluster_arguments() if stages.executor else []),
            *(["--resume"] if settings.resume and schedule_started(work) else []),
        ),
    )
    record["schedule"] = load_validated_data(work / SCHEDULE, ScheduleFile, SCHEDULE)
    winner = record["schedule"]["winner"]
    folds = [int(f) for f in load_validated_data(work / INFERENCE, InferenceFile, INFERENCE)["folds"]]
    record["configurations"][winner] = _configuration_record(work, plans, winner, settings, folds, pictures, report_dir)
    return dataclasses.replace(settings, folds=folds)


def choose_configurations(plans: Plans, requested: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """Configurations to train (default: every planned one, a cascade included, but not a long budget's variants,
    which only a schedule or a request trains), each after the stage its cascade needs; requested ones the plan
    lacks are skipped (one benchmark may list 2d and 3d_fullres for a 2D and a 3D dataset)."""
    available = list(plans.configurations)
    skipped = {}
    wanted = set(requested or [n for n in available if not plans.configurations[n].variant_of])
    if requested:
        skipped = {
            n: f"not in this dataset's plans (it has {', '.join(available)})"
            for n in requested
            if n not in plans.configurations
        }
    for name in list(wanted):
        previous = plans.configurations[name].previous_stage if name in plans.configurations else None
        while previous:
            wanted.add(previous)
            previous = plans.configurations[previous].previous_stage
    names = _stages_first(plans, [n for n in available if n in wanted])
    if not names:
        raise AutosegError(
            f"none of the configurations {list(requested or [])} is in this dataset's plans",
            fix=f"choose among {available}",
        )
    return names, skipped


def _stages_first(plans: Plans, names: list[str]) -> list[str]:
    """names reordered so that a cascade's previous stage is trained before it."""
    ordered: list[str] = []

    def add(name):
        previous = plans.configurations[name].previous_stage
        if previous and previous in names:
            add(previous)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        add(name)
    return ordered


def training_folds(plans: Plans, names: list[str], splits: list[dict], folds: list[int]) -> dict[str, list[int]]:
    """The folds each configuration trains: the benchmarked folds, and for a cascade's previous stage also every
    fold that holds out a training case of the cascade's folds (its out-of-fold inputs)."""
    from autoseg.training.dataset import previous_stage_folds

    out = {name: list(folds) for name in names}
    for name in reversed(names):  # names lists previous stages first: a cascade is seen before what it needs
        previous = plans.configurations[name].previous_stage
        if previous in out:
            out[previous] = sorted(set(out[previous]) | set(previous_stage_folds(splits, out[name])))
    return out


def _plan_options(settings: Settings) -> list[str]:
    options = ["--preset", settings.preset, "--device", settings.device]
    if settings.cv_folds:
        options += ["--cv-folds", str(settings.cv_folds)]
    if settings.regions_file:
        options += ["--regions", str(Path(settings.regions_file).resolve())]
    if settings.time_budget is not None:
        options += ["--time-budget", str(settings.time_budget)]
    if settings.cpu_gflops:
        options += ["--cpu-gflops", str(settings.cpu_gflops)]
    return options


def _tracking_options(settings: Settings) -> list[str]:
    return settings.tracking.cli_arguments() if settings.tracking else []


def _train_options(settings: Settings) -> list[str]:
    options = ["--device", settings.device, *_tracking_options(settings)]
    if settings.epochs is not None:
        return options + ["--epochs", str(settings.epochs)]
    if settings.time_budget is not None:
        options += ["--time-budget", str(settings.time_budget)]
    return options


def _configuration_record(
    work: Path, plans: Plans, name: str, settings: Settings, folds: list[int], pictures: Path, report_dir: Path
) -> dict[str, Any]:
    config = plans.configuration(name)
    record: dict[str, Any] = {
        "architecture": config.network.architecture,
        "patch_size": config.patch_size,
        "batch_size": config.batch_size,
        "spacing": config.spacing,
        "progressive_patch_size": config.training.progressive_patch_size,
        "progressive_batch_size": config.training.progressive_batch_size,
        "folds": {},
        "previous_stage": config.previous_stage,
    }
    budget_seconds = parse_duration(settings.time_budget) if settings.epochs is None else None
    for fold in folds:
        fold_dir = model_dir(work, name, fold)
        summary = read_json(fold_dir / TRAINING_SUMMARY, "training summary")
        history = read_json(fold_dir / "history.json", "training history")
        entry = {
            k: summary.get(k)
            for k in (
                "epochs",
                "iterations",
                "training_seconds",
                "ended_by",
                "planned_iterations",  # what the plan expected in the time budget (training/pace.py)
                "planned_fraction",
                "iterations_per_second",
                "peak_ram_mb",
                "precision",
                "validation_dice",
                "validation_dice_per_class",
                "validation_seconds",
                "wall_seconds",
            )
        }
        entry.update(
            training_throughput(
                history,
                config,
                summary["training_seconds"],
                budget_seconds or config.training.time_budget_s,
                settings.epochs,
            )
        )
        curves = pictures / f"curves_{name}_fold{fold}.png"
        if (fold_dir / "curves.png").is_file():
            curves.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fold_dir / "curves.png", curves)
            entry["curves"] = str(curves.relative_to(report_dir))
        record["folds"][str(fold)] = entry
    return record


def _evaluate_held_out(
    info: DatasetInfo,
    dataset: Path,
    work: Path,
    held_out: HeldOutSet,
    selection: dict,
    stages: Stages,
    settings: Settings,
    evaluate_options: list,
) -> dict[str, Any]:
    chosen = selection["configurations"]
    result: dict[str, Any] = {
        "set": held_out.kind,
        "description": held_out.description,
        "cases": len(held_out.case_ids),
        "references": str(held_out.labels_dir),
        "configurations": chosen,
        "postprocessing": selection["postprocessing"] if held_out.kind == "test" else None,
    }
    for tta in (True, False):
        tag = "tta" if tta else "no_tta"
        out = work / "heldout" / f"predictions_{tag}"
        case_seconds: dict[str, float] = {}
        predict_seconds = 0.0
        for fold_label, images, options in held_out.predict_jobs(chosen, settings.folds):
            stage = stages.run(
                f"predict {fold_label}({'TTA' if tta else 'no TTA'})",
                autoseg_command(
                    "predict",
                    work,
                    "-i",
                    images,
                    "-o",
                    out,
                    "--device",
                    settings.device,
                    *options,
                    *([] if tta else ["--no-tta"]),
                ),
            )
            predict_seconds += stage.seconds
            report = read_json(out / PREDICTION_REPORT, "prediction report")  # one per command
            case_seconds.update({case: r["seconds"] for case, r in report["cases"].items()})
        summary_path = work / "heldout" / f"summary_{tag}.json"
        stages.run(
            f"evaluate ({'TTA' if tta else 'no TTA'})",
            autoseg_command(
                "evaluate",
                out,
                held_out.labels_dir,
                "-o",
                summary_path,
                "--dataset",
                dataset,
                *evaluate_options,
                *(["--overwrite"] if settings.resume else []),  # a summary is derived: written again
            ),
        )
        result[tag] = _scores(summary_path, case_seconds, predict_seconds)
    return result


def case_dice(summary: dict[str, Any]) -> dict[str, float]:
    """Each case's Dice averaged over its classes (or regions), from an evaluation summary."""
    return {case["case"]: float(np.mean([m["Dice"] for m in case["metrics"].values()])) for case in summary["cases"]}


def _scores(summary_path: Path, case_seconds: dict[str, float], predict_seconds: float) -> dict[str, Any]:
    summary = read_json(summary_path, "evaluation summary")
    n_cases = max(len(case_seconds), 1)
    return {
        "foreground_mean": summary["foreground_mean"],
        "per_class": {name: stats["mean"] for name, stats in summary["per_class"].items()},
        "case_dice": case_dice(summary),
        # the predictor's own time per case (read, predict, write) and the whole commands' time (start-up
        # and model loading included) divided by the cases
        "seconds_per_case": round(sum(case_seconds.values()) / n_cases, 3),
        "command_seconds_per_case": round(predict_seconds / n_cases, 3),
    }


def _overlays(
    info: DatasetInfo, held_out: HeldOutSet, work: Path, pictures: Path, report_dir: Path
) -> list[dict[str, Any]]:
    summary = read_json(work / "heldout" / "summary_tta.json", "evaluation summary")
    chosen = choose_overlay_cases(summary)
    cases = {c.case_id: c for c in [*info.training, *info.test]}
    predictions = work / "heldout" / "predictions_tta"
    paths = save_overlays(
        [cases[c].image_files for _, c, _ in chosen],
        [held_out.labels_dir / f"{c}{cases[c].file_ending}" for _, c, _ in chosen],
        [predictions / f"{c}{cases[c].file_ending}" for _, c, _ in chosen],
        pictures / "overlays",
        n=len(chosen),
        names=[c for _, c, _ in chosen],
    )
    return [
        {"kind": kind, "case": case_id, "dice": dice, "path": str(path.relative_to(report_dir))}
        for (kind, case_id, dice), path in zip(chosen, paths)
    ]
