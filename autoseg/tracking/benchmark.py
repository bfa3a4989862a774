"""A benchmark as a parent run: its settings as params, each dataset's held-out scores and times as metrics
(prefixed with the dataset's key), the report as artifacts; the training stages log runs nested in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.tracking.run import TrackedRun
from autoseg.tracking.values import metric_name

REPORT_FILES = ("report.html", "report.md", "report.json")


def log_dataset(run: TrackedRun | None, record: dict[str, Any]) -> None:
    """One dataset's outcome, as the report records it."""
    if run is None:
        return
    key = metric_name(record["dataset"])
    evaluation = record.get("evaluation") or {}
    metrics: dict[str, Any] = {f"{key}/wall_seconds": record.get("wall_seconds")}
    for tag in ("tta", "no_tta"):
        scores = evaluation.get(tag) or {}
        metrics[f"{key}/heldout_dice_{tag}"] = (scores.get("foreground_mean") or {}).get("Dice")
        metrics[f"{key}/seconds_per_case_{tag}"] = scores.get("seconds_per_case")
    run.metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
    run.tags(
        {
            f"{key}/status": record.get("status"),
            f"{key}/error": record.get("error"),
            f"{key}/configurations": evaluation.get("configurations"),
        }
    )


def log_report(run: TrackedRun | None, report_dir: Path) -> None:
    if run is not None:
        run.artifacts(report_dir / name for name in REPORT_FILES)
