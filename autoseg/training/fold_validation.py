"""Full-image validation of a trained fold: the one function the end of training and the schedule both call
(the schedule for a fold trained without it in a rung, or whose validation a kill interrupted)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autoseg.inference.models import LoadedModel
from autoseg.inference.predictor import InferenceSettings
from autoseg.layout.work import VALIDATION, model_dir
from autoseg.preprocessing.cache import cache_dir
from autoseg.schema.plans import Configuration, Plans
from autoseg.training.dataset import add_previous_stage, load_cases
from autoseg.training.folds import fold_cases
from autoseg.training.validation import validate_full_images
from autoseg.utils.logs import get_logger

log = get_logger("train")


def validation_cases(work: Path, plans: Plans, config: Configuration, fold: str) -> list:
    """The fold's validation cases from the preprocessed cache (with the previous stage's masks for a cascade)."""
    cases = load_cases(cache_dir(work, config), fold_cases(work, fold)[1])
    if config.previous_stage:
        add_previous_stage(cases, work, plans, config)
    return cases


def validate_fold_images(
    work: Path,
    plans: Plans,
    config: Configuration,
    model: LoadedModel,
    cases: list,
    settings: InferenceSettings,
    *,
    save_probabilities: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Predict and score the fold's validation cases on full images (into fold_k/validation); returns the
    training summary's validation entries."""
    started = time.monotonic()
    out = model_dir(work, config.name, model.fold) / VALIDATION
    result = validate_full_images(
        work,
        plans,
        config,
        model,
        cases,
        out,
        settings=settings,
        save_probabilities=save_probabilities,
        progress=progress,
    )
    entries = {
        "validation_dice": result["foreground_mean"]["Dice"],
        "validation_dice_per_class": {k: v["mean"]["Dice"] for k, v in result["per_class"].items()},
        "validation_seconds": round(time.monotonic() - started, 1),
        "validation_tta": settings.tta,
    }
    log.info(
        "%s fold %s full-image validation (%d cases, %s): mean foreground Dice %.4f %s",
        config.name,
        model.fold,
        len(cases),
        "mirror TTA" if settings.tta else "no TTA",
        entries["validation_dice"],
        entries["validation_dice_per_class"],
    )
    return entries
