"""What a training run records: its params (the plan configuration and the job's options, flattened to dotted
names) and its metrics (an epoch record of history.json, a training summary), named as MLflow accepts them."""

from __future__ import annotations

import re
from typing import Any

from autoseg.labels import label_manager
from autoseg.schema.convert import to_dict
from autoseg.schema.plans import Configuration, Plans

# Planner notes for people (long prose) and per-case shapes are not settings to compare runs by.
LEFT_OUT = {"reasons", "median_shape"}
# An epoch record's numbers that are not metrics of the epoch (the step is the epoch itself).
NOT_METRICS = {"epoch"}
SUMMARY_METRICS = (
    "validation_dice",
    "training_seconds",
    "validation_seconds",
    "wall_seconds",
    "epochs",
    "iterations",
    "iterations_per_second",
    "peak_ram_mb",
)
SUMMARY_TAGS = ("precision", "compiled", "device", "processes", "budget", "validation_tta")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"training": {"loss": "dice_ce"}} -> {"training.loss": "dice_ce"}; lists stay whole (one param)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in LEFT_OUT:
            continue
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def training_params(plans: Plans, config: Configuration, options: dict[str, Any]) -> dict[str, Any]:
    """The configuration's values (patch, batch, network, spacing, training plan, augmentation...), where the
    plan was sized for, and the job's options (prefixed job.)."""
    params = flatten(to_dict(config))
    params.update({"dataset": plans.dataset_name, "preset": plans.preset, **flatten(plans.device, "planned_for")})
    params.update(flatten(dict(options), "job"))
    return params


def class_names(plans: Plans) -> list[str]:
    """The names of the pseudo-Dice entries: the regions, or the foreground labels in value order."""
    labels = label_manager(plans)
    if labels.has_regions:
        return list(labels.evaluation_entries())
    return [name for name, _ in sorted(labels.evaluation_entries().items(), key=lambda entry: entry[1])]


def epoch_metrics(record: dict[str, Any], classes: list[str]) -> dict[str, float]:
    """An epoch record's numbers; per-class pseudo-Dice as pseudo_dice/<class name>."""
    metrics = {
        metric_name(k): float(v)
        for k, v in record.items()
        if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    for i, value in enumerate(record.get("pseudo_dice_per_class") or []):
        name = classes[i] if i < len(classes) else str(i + 1)
        metrics[f"pseudo_dice/{metric_name(name)}"] = float(value)
    return metrics


def summary_metrics(summary: dict[str, Any]) -> dict[str, float]:
    metrics = {k: float(summary[k]) for k in SUMMARY_METRICS if isinstance(summary.get(k), (int, float))}
    for name, value in (summary.get("validation_dice_per_class") or {}).items():
        if isinstance(value, (int, float)):
            metrics[f"validation_dice/{metric_name(name)}"] = float(value)
    return metrics


def summary_tags(summary: dict[str, Any]) -> dict[str, str]:
    return {k: str(summary[k]) for k in SUMMARY_TAGS if k in summary}


def metric_name(name: str) -> str:
    """MLflow names allow letters, digits, _ - . / and spaces."""
    return re.sub(r"[^\w\-. /]", "_", str(name))
