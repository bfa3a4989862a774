"""The model card: model.json (for programs: what the model is, how it was trained and scored, and a sha256 of
every file, checked on import) and README.md (the same for people)."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.labels import label_manager
from autoseg.layout.model_folder import sha256
from autoseg.layout.work import FINGERPRINT, MODEL_FORMAT, MODEL_FORMAT_VERSION, TRAINING_SUMMARY, model_dir
from autoseg.schema.plans import Plans
from autoseg.utils.files import read_json

# What each fold's training_summary.json contributes to the card.
_FOLD_KEYS = (
    "configuration",
    "fold",
    "epochs",
    "iterations",
    "training_seconds",
    "budget",
    "device",
    "precision",
    "patch_size",
    "batch_size",
    "validation_dice",
    "validation_dice_per_class",
    "init_from",
)


def build_card(
    work: Path, plans: Plans, selection: dict[str, Any], folds: dict[str, list[str]], checkpoint: str
) -> dict[str, Any]:
    """model.json without its file list (export adds it once the files are written)."""
    from autoseg import __version__

    fingerprint = _optional_json(work / FINGERPRINT)
    labels = label_manager(plans)
    configurations = {}
    for name, names_folds in folds.items():
        config = plans.configuration(name)
        runs = {f: fold_record(model_dir(work, name, f)) for f in names_folds}
        configurations[name] = {
            "spatial_dims": config.spatial_dims,
            "spacing": config.spacing,
            "patch_size": config.patch_size,
            "architecture": config.network.architecture,
            "previous_stage": config.previous_stage,
            "folds": names_folds,
            "training": runs,
            "cross_validation": _cv_summary(runs),
        }
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "autoseg_version": __version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dataset": {
            "name": plans.dataset_name,
            "training_cases": len(fingerprint.get("cases", [])) or None,
            "channel_names": plans.channel_names,
            "labels": plans.labels,
            "regions": labels.region_sets,
            "regions_class_order": labels.region_order,
            "file_ending": plans.file_ending,
            "layout": plans.layout,
            "ignore_label": plans.ignore_label,
        },
        "prediction": {
            "configurations": selection["configurations"],
            "postprocessing": selection.get("postprocessing"),
            "chosen_by": "find-best"
            if "cv_dice" in selection
            else "export options"
            if selection.get("named")
            else "the best trained configuration",
            "find_best_cv_dice": selection.get("cv_dice"),
            "source_checkpoint": checkpoint,
        },
        "configurations": configurations,
        "machine": {
            "planned_for": plans.device.get("name"),
            "device_kind": plans.device.get("kind"),
            "exported_on": platform.node() or None,
        },
        "conventions": {
            "axes": "numpy order (z, y, x) after plans.transpose_forward; predictions are written "
            "in each input's own geometry",
            "transpose_forward": plans.transpose_forward,
        },
    }


def fold_record(folder: Path) -> dict[str, Any]:
    """What an export keeps of a fold's training_summary.json: how it trained and scored, nothing of the data."""
    summary = _optional_json(folder / TRAINING_SUMMARY)
    return {k: summary[k] for k in _FOLD_KEYS if k in summary}


def _cv_summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Mean over folds of the full-image validation Dice (each fold scored on its own validation cases)."""
    scored = [r for r in runs.values() if r.get("validation_dice") is not None]
    if not scored:
        return None
    classes = scored[0].get("validation_dice_per_class") or {}
    return {
        "folds_scored": len(scored),
        "mean_dice": round(float(np.mean([r["validation_dice"] for r in scored])), 4),
        "dice_per_class": {
            c: round(
                float(
                    np.mean(
                        [
                            r["validation_dice_per_class"][c]
                            for r in scored
                            if c in (r.get("validation_dice_per_class") or {})
                        ]
                    )
                ),
                4,
            )
            for c in classes
        },
    }


def _optional_json(path: Path) -> dict[str, Any]:
    return read_json(path, path.name) if path.is_file() else {}


def file_digests(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    return {name: {"bytes": (folder / name).stat().st_size, "sha256": sha256(folder / name)} for name in names}


def readme(card: dict[str, Any]) -> str:
    dataset, prediction = card["dataset"], card["prediction"]
    lines = [
        f"# autoseg model: {dataset['name']}",
        "",
        f"Exported {card['created']} with autoseg {card['autoseg_version']}.",
        "",
        f"- Input: {len(dataset['channel_names'])} channel(s) {dataset['channel_names']}, files ending "
        f"{dataset['file_ending']}",
        f"- Labels: {dataset['labels']}" + (f"; regions {dataset['regions']}" if dataset["regions"] else ""),
        f"- Trained on {dataset['training_cases'] or 'an unknown number of'} cases",
        f"- Prediction: {' + '.join(prediction['configurations'])} (chosen by {prediction['chosen_by']}), "
        f"postprocessing {prediction['postprocessing'] or 'none'}",
        f"- Planned for: {card['machine']['planned_for']} ({card['machine']['device_kind']})",
        "",
        "| configuration | folds | architecture | patch | training per fold | CV Dice (per class) |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in card["configurations"].items():
        runs = c["training"].values()
        budget = ", ".join(
            sorted({f"{r.get('iterations', '?')} it in {r.get('training_seconds', '?')} s" for r in runs})
        )
        cv = c["cross_validation"]
        score = "not scored" if not cv else f"{cv['mean_dice']} ({cv['dice_per_class']})"
        lines.append(
            f"| {name} | {', '.join(c['folds'])} | {c['architecture']} | {c['patch_size']} | {budget} | {score} |"
        )
    lines += [
        "",
        "Use it:",
        "",
        "    autoseg predict --model MODEL.zip -i IMAGES/ -o SEGMENTATIONS/",
        "",
        "    import autoseg",
        "    predictor = autoseg.Predictor.load('MODEL.zip')",
        "    labels = predictor.predict(sitk_image)",
        "",
    ]
    return "\n".join(lines)
