"""`autoseg benchmark`: the whole pipeline on one or more datasets, timed and measured stage by stage.

REPORT/
  report.json         every number, with versions, machine, date and the command (REPORT_VERSION), so that runs
                      can be compared over time; written after each dataset, so a crash keeps what was done
  report.md           the same as tables, images linked
  report.html         one self-contained page (inline CSS, images embedded)
  <dataset>/          training curves and overlay pictures
  logs/<dataset>/     one log per stage, its command on the first line
  work/<dataset>/     the WORK folder of the run (plans, preprocessed cache, models, held-out predictions)
"""

from __future__ import annotations

import dataclasses
import datetime
import shlex
from pathlib import Path
from typing import Any, Sequence

from autoseg.benchmark.dataset_run import Settings
from autoseg.benchmark.machine import machine_info, software_versions
from autoseg.benchmark.report_content import report_blocks
from autoseg.benchmark.report_html import render_html
from autoseg.benchmark.report_markdown import render_markdown
from autoseg.benchmark.resume import check_resumable, settings_record, write_settings
from autoseg.benchmark.side_by_side import dataset_records
from autoseg.errors import AutosegError
from autoseg.tracking.benchmark import log_dataset, log_report
from autoseg.tracking.parents import parent_run
from autoseg.tracking.store import open_tracking
from autoseg.tracking.values import flatten
from autoseg.utils.durations import parse_duration
from autoseg.utils.files import atomic_write, write_json
from autoseg.utils.logs import get_logger

log = get_logger("benchmark")
REPORT_VERSION = 1
EXPERIMENT = "autoseg benchmark"  # the MLflow experiment of benchmarks (--mlflow-experiment to change)


def benchmark(
    datasets: Sequence[str | Path],
    report_dir: str | Path,
    time_budget: str | float | None = "15m",
    configs: Sequence[str] | None = None,
    folds: Sequence[int] = (0,),
    preset: str = "default",
    device: str = "auto",
    progress: bool = True,
    *,
    epochs: int | None = None,
    cpu_gflops: float | None = None,
    cv_folds: int | None = None,
    regions: str | Path | None = None,
    total_budget: str | None = None,
    executor=None,
    mlflow: str | None = None,
    mlflow_experiment: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Benchmark every dataset into report_dir; returns the report (also REPORT/report.json).

        time_budget is the training time of each configuration on each fold (and what the plan is sized for);
        epochs, when given, trains that many epochs instead (quick checks). cpu_gflops skips measuring the CPU
        when planning (deterministic plans). cv_folds is the number of folds the plan makes (plan --cv-folds; small
    datasets need fewer than 5); regions a regions file passed to plan --regions (trained and scored per region). A
    dataset whose stage fails is recorded as failed and the next one runs. total_budget, when given, is the wall
    time of each dataset's whole training, spent by the scheduler (autoseg train WORK --total-budget); time_budget then
    only sizes the plan (one model's training), and configs/folds are the scheduler's choice. executor
    (autoseg.execution), when given, runs the datasets side by side (side_by_side.py). mlflow, when given,
    is a tracking URI ("" for an SQLite store REPORT/mlflow.db): the benchmark is an MLflow run of experiment
    mlflow_experiment (default "autoseg benchmark") with every training nested in it. resume continues a killed
    benchmark in report_dir, started with the same datasets and settings (resume.py).
    """
    report_dir = Path(report_dir)
    datasets = [Path(d) for d in datasets]
    _check_arguments(datasets, report_dir, time_budget, folds, cv_folds, resume)
    parse_duration(total_budget)
    settings = Settings(
        time_budget=time_budget,
        epochs=epochs,
        configs=list(configs) if configs else None,
        folds=[int(f) for f in folds],
        preset=preset,
        device=device,
        cpu_gflops=cpu_gflops,
        progress=progress,
        cv_folds=cv_folds,
        regions_file=str(regions) if regions else None,
        total_budget=str(total_budget) if total_budget else None,
        resume=resume,
    )
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": equivalent_command(datasets, report_dir, settings),
        "settings": {
            "time_budget": time_budget,
            "epochs": epochs,
            "configs": settings.configs,
            "folds": settings.folds,
            "preset": preset,
            "device": device,
            "cpu_gflops": cpu_gflops,
            "cv_folds": cv_folds,
            "regions": settings.regions_file,
            "total_budget": settings.total_budget,
        },
        "machine": machine_info(),
        "versions": software_versions(),
        "datasets": [],
    }
    first_run = settings_record(datasets, report["settings"], report["command"])
    if resume:
        check_resumable(report_dir, first_run)
    else:
        report_dir.mkdir(parents=True, exist_ok=True)
        write_settings(report_dir, first_run)
    tracking = None if mlflow is None else open_tracking(mlflow, report_dir, mlflow_experiment or EXPERIMENT)
    with parent_run(tracking, report_dir.name, "benchmark", flatten(report["settings"])) as run:
        settings = dataclasses.replace(settings, tracking=run.child_context() if run else None)
        done: dict[int, dict[str, Any]] = {}
        for index, record in dataset_records(datasets, dataset_keys(datasets), report_dir, settings, executor):
            done[index] = record
            report["datasets"] = [done[i] for i in sorted(done)]  # the datasets' order, whichever finishes first
            write_report(report, report_dir)
            log_dataset(run, record)
        log_report(run, report_dir)
    log.info("benchmark report: %s", report_dir / "report.html")
    return report


def write_report(report: dict[str, Any], report_dir: Path) -> None:
    write_json(report_dir / "report.json", report)
    blocks = report_blocks(report)
    _write_text(report_dir / "report.md", render_markdown(blocks))
    _write_text(report_dir / "report.html", render_html(blocks, report_dir))


def dataset_keys(datasets: Sequence[Path]) -> list[str]:
    """Folder names, made unique (two datasets may share a folder name in different places)."""
    keys: list[str] = []
    for dataset in datasets:
        name = dataset.resolve().name
        key, n = name, 2
        while key in keys:
            key, n = f"{name}_{n}", n + 1
        keys.append(key)
    return keys


def equivalent_command(datasets: Sequence[Path], report_dir: Path, settings: Settings) -> str:
    """The `autoseg benchmark` command line that repeats this run."""
    parts = ["autoseg", "benchmark", *map(str, datasets), "-o", str(report_dir)]
    if settings.epochs is not None:
        parts += ["--epochs", str(settings.epochs)]
    elif settings.time_budget is not None:
        parts += ["--time-budget", str(settings.time_budget)]
    if settings.total_budget:
        parts += ["--total-budget", settings.total_budget]
    if settings.configs:
        parts += ["--configurations", *settings.configs]
    parts += ["--folds", *map(str, settings.folds), "--preset", settings.preset, "--device", settings.device]
    if settings.cpu_gflops:
        parts += ["--cpu-gflops", str(settings.cpu_gflops)]
    if settings.cv_folds:
        parts += ["--cv-folds", str(settings.cv_folds)]
    if settings.regions_file:
        parts += ["--regions", settings.regions_file]
    return shlex.join(parts)


def _check_arguments(datasets: list[Path], report_dir: Path, time_budget, folds, cv_folds=None, resume=False) -> None:
    if not datasets:
        raise AutosegError("no dataset to benchmark", fix="pass one or more dataset folders")
    for dataset in datasets:
        if not (dataset / "dataset.json").is_file():
            raise AutosegError(
                "not a dataset folder (no dataset.json)", dataset, "pass folders in the nnU-Net v2 or MSD layout"
            )
    if report_dir.exists() and any(report_dir.iterdir()) and not resume:
        raise AutosegError(
            "the report folder is not empty",
            report_dir,
            "choose a new -o folder: a benchmark never overwrites an earlier one (--resume continues a killed one)",
        )
    parse_duration(time_budget)
    if not folds or any(not str(f).isdigit() for f in folds):
        raise AutosegError(
            f"folds must be fold numbers, got {list(folds)}",
            fix="e.g. --folds 0, or --folds 0 1 2 3 4 (the held-out cases are their validation cases)",
        )
    if cv_folds is not None and (cv_folds < 2 or any(int(f) >= cv_folds for f in folds)):
        raise AutosegError(
            f"--cv-folds {cv_folds} cannot hold folds {list(folds)}",
            fix=f"pass at least 2 folds, and fold numbers below {cv_folds}",
        )


def _write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    atomic_write(path, write, suffix=path.suffix)
