"""`autoseg predict --ray`: the cases split into shards, one per worker; each shard a task that loads the models
once and predicts its cases into its own staging folder (inference.run.predict, so the label maps are the ones a
local predict writes); the driver then moves the files into OUTPUT and writes one prediction_report.json.

OUTPUT is locked for the whole run; a shard that fails leaves its staging folder (and nothing in OUTPUT);
OUTPUT/prediction_report.json is written once at the end, after every file it lists is in place.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from autoseg.data.dicom.cases import DicomCase, input_cases
from autoseg.execution.executor import Executor, Task
from autoseg.execution.records import placement
from autoseg.execution.storage_check import check_shared_storage
from autoseg.inference.prediction_ledger import previous_cases
from autoseg.inference.run import REPORT_NAME, info_from_plans, predict
from autoseg.inference.run import _refuse_overwrite as refuse_overwrite
from autoseg.layout.work import PLANS
from autoseg.schema.plans import load_plans
from autoseg.utils.files import write_json
from autoseg.utils.locks import output_lock
from autoseg.utils.logs import get_logger

log = get_logger("predict")
STAGING = ".shards-"


def predict_shard(payload: dict[str, Any], attempts) -> dict[str, Any]:
    """One shard on one worker: a local predict of its files into its own folder (a retry predicts the cases a
    lost attempt did not finish: the folder's own report says which)."""
    return predict(payload["work"], payload["files"], payload["output"], progress=False, **payload["options"])


def shards(cases: list, count: int) -> list[list]:
    """`count` contiguous, near-equal groups of cases (no empty group)."""
    if not cases:
        return []
    count = max(1, min(count, len(cases)))
    size, extra = divmod(len(cases), count)
    groups, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        groups.append(cases[start:end])
        start = end
    return groups


def predict_on_cluster(
    executor: Executor,
    work: str | Path,
    inputs,
    output: str | Path,
    *,
    overwrite: bool = False,
    save_probabilities: bool = False,
    **options: Any,
) -> dict[str, Any]:
    work, output = Path(work).absolute(), Path(output).absolute()
    plans = load_plans(work)
    cases = input_cases(inputs, info_from_plans(plans))
    output_format = options.get("output_format", "nifti")
    with output_lock(output, "predictions folder"):
        refuse_overwrite(output, cases, overwrite, save_probabilities, output_format)
        staging = output / f"{STAGING}{uuid.uuid4().hex[:8]}"
        check_shared_storage(executor, [work / PLANS], [staging])
        groups = shards(cases, executor.workers())
        for i, group in enumerate(groups):
            files = _shard_inputs(group, staging / f"input_{i}")
            executor.submit(
                Task(
                    f"predict shard {i}",
                    predict_shard,
                    {
                        "work": str(work),
                        "files": files,
                        "output": str(staging / f"shard_{i}"),
                        "options": {**options, "save_probabilities": save_probabilities, "overwrite": True},
                    },
                )
            )
        log.info("predicting %d case(s) in %d shard(s) on %s", len(cases), len(groups), executor.where)
        outcomes = [o for o in executor.as_completed()]
        for outcome in outcomes:
            outcome.result()  # a failed shard: its error, OUTPUT untouched
        report = _merge(output, staging, outcomes)
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _shard_inputs(group: list, folder: Path) -> list[str]:
    """What one shard predicts: image files as they are; a DICOM case as a case folder of links to its series'
    files (FOLDER/<case>/<channel>/, the layout data/dicom/cases.py reads for any number of channels), so the shard
    finds exactly its cases under the same case ids. The links live in the shared staging folder."""
    files = []
    for case in group:
        if not isinstance(case, DicomCase):
            files += [str(Path(f).absolute()) for f in case.image_files]
            continue
        for channel, series in enumerate(case.channels):
            target = folder / case.case_id / str(channel)
            target.mkdir(parents=True)
            for k, source in enumerate(series.files):
                (target / f"{k:05d}.dcm").symlink_to(Path(source).absolute())
        files.append(str(folder / case.case_id))
    return files


def _merge(output: Path, staging: Path, outcomes) -> dict[str, Any]:
    """Move every shard's files into OUTPUT, then write the one report (earlier runs' cases kept)."""
    cases = previous_cases(output / REPORT_NAME)
    records = []
    for outcome in sorted(outcomes, key=lambda o: o.task.name):
        folder = Path(outcome.task.payload["output"])
        for path in folder.iterdir():
            if path.is_file() and path.name != REPORT_NAME and not path.name.startswith("."):
                os.replace(path, output / path.name)
        cases.update(outcome.value["cases"])
        records.append(
            {
                "shard": outcome.task.name,
                "cases": len(outcome.value["cases"]),
                "seconds_per_case": outcome.value["seconds_per_case"],
                **placement(outcome.attempts),
            }
        )
    first = min(outcomes, key=lambda o: o.task.name).value
    count = sum(r["cases"] for r in records)
    report = {
        **{k: v for k, v in first.items() if k != "cases"},
        "cases": cases,
        "seconds_per_case": round(sum(r["seconds_per_case"] * r["cases"] for r in records) / max(1, count), 3),
        "shards": records,
    }
    write_json(output / REPORT_NAME, report)
    log.info("wrote %d segmentation(s) to %s from %d shard(s)", count, output, len(records))
    return report
