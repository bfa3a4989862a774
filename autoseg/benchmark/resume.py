"""`autoseg benchmark --resume`: continue a killed benchmark in its own REPORT folder.

A long budget can outlive the machine it started on (a 4-hour training on a machine reclaimed after 3). A resume
keeps what finished and continues what did not, each stage the way its own verb resumes: the plan's
preprocessing continues where it stopped (autoseg preprocess), a fold with its final checkpoint is kept, a killed
fold continues from its last epoch (train --resume), a schedule continues (train --total-budget --resume). The
stages after training are cheap and run again: find-best, predict (which reuses the predictions its ledger says
are current) and evaluate (its summary is derived, so it is written again).

The first run's datasets and settings are kept in REPORT/benchmark_settings.json before its first stage; a resume
with others is refused, since its numbers would mix two benchmarks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from autoseg.errors import AutosegError
from autoseg.layout.work import CHECKPOINT_FINAL, CHECKPOINT_LATEST, SCHEDULE, model_dir
from autoseg.planning.presets import load_preset
from autoseg.schema.benchmark_settings_file import BenchmarkSettingsFile
from autoseg.schema.load import load_validated_data
from autoseg.training.fold_folder import interrupted_extension
from autoseg.training.job import TrainingJob
from autoseg.utils.files import write_json

SETTINGS_FILE = "benchmark_settings.json"
PRESET_DIGEST = "preset_sha256"


def settings_record(datasets: Sequence[Path], settings: dict[str, Any], command: str) -> dict[str, Any]:
    """The preset is also recorded by its merged content (what the planner reads, "extends" included), so a resume
    from another checkout, the same preset file at another path, is the same benchmark."""
    digest = _preset_digest(settings.get("preset"))
    recorded = {**settings, PRESET_DIGEST: digest} if digest else settings
    return {"datasets": [str(d.resolve()) for d in datasets], "settings": recorded, "command": command}


def _preset_digest(preset: Any) -> str | None:
    try:  # a preset that does not load fails the plan stage, with its own message
        merged = load_preset(preset) if preset else None
    except AutosegError:
        return None
    return hashlib.sha256(json.dumps(merged, sort_keys=True).encode()).hexdigest() if merged else None


def write_settings(report_dir: Path, record: dict[str, Any]) -> None:
    write_json(report_dir / SETTINGS_FILE, record)


def check_resumable(report_dir: Path, record: dict[str, Any]) -> None:
    """Refuses a resume of a folder that holds no benchmark, or one started with other datasets or settings."""
    path = report_dir / SETTINGS_FILE
    if not path.is_file():
        raise AutosegError(
            f"nothing to resume: no {SETTINGS_FILE} (a benchmark writes it before its first stage)",
            report_dir,
            "start the benchmark without --resume, into a new -o folder",
        )
    first = load_validated_data(path, BenchmarkSettingsFile, SETTINGS_FILE, BenchmarkSettingsFile.FIX)
    changed = []
    if first["datasets"] != record["datasets"]:
        changed.append(f"datasets {first['datasets']} then, {record['datasets']} now")
    digest = first["settings"].get(PRESET_DIGEST)
    same_preset = digest is not None and digest == record["settings"].get(PRESET_DIGEST)
    for key in sorted({*first["settings"], *record["settings"]} - {PRESET_DIGEST}):
        then, now = first["settings"].get(key), record["settings"].get(key)
        if then != now and not (key == "preset" and same_preset):
            changed.append(f"{key} {then!r} then, {now!r} now")
    if changed:
        raise AutosegError(
            "--resume needs the first run's datasets and settings (" + "; ".join(changed) + ")",
            path,
            f"repeat the first run's command: {first['command']} --resume",
        )


def training_state(work: Path, configuration: str, fold: int | str) -> str:
    """'done' (the fold's final checkpoint exists), 'killed' (only its latest epoch's) or 'new'."""
    folder = model_dir(work, configuration, fold)
    if (folder / CHECKPOINT_FINAL).is_file() and not interrupted_extension(folder):
        return "done"
    return "killed" if (folder / CHECKPOINT_LATEST).is_file() else "new"


def schedule_started(work: Path) -> bool:
    return (work / SCHEDULE).is_file()


def resumed_jobs(jobs: list[TrainingJob], work: Path) -> list[TrainingJob]:
    """The trainings still to run on a cluster: finished folds dropped, killed ones continued."""
    states = [training_state(work, job.configuration, job.fold) for job in jobs]
    return [dataclasses.replace(job, resume=state == "killed") for job, state in zip(jobs, states) if state != "done"]
