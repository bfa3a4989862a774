"""Export: the study's best trial becomes a configuration in plans.json (e.g. `3d_fullres_search`) that
`autoseg train`, `predict` and `find-best` use like any other.

Only that one configuration is written: plans.json is re-read just before saving and every other configuration
is left as it is. An existing configuration of that name is replaced only when it came from a search, and,
if models were trained with it, only when the caller says so (`overwrite`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from autoseg.errors import AutosegError
from autoseg.layout.work import MODELS, PLANS, trained_folds
from autoseg.schema.convert import from_dict, to_dict
from autoseg.schema.plans import Configuration, load_plans, save_plans
from autoseg.search.space import plan_values
from autoseg.search.trial_config import describe_changes
from autoseg.utils.logs import get_logger

log = get_logger("search")

SEARCH_MARK = "autoseg search:"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(completed, key=lambda t: t.value) if completed else None


def export_best(work: str | Path, study: optuna.Study, name: str, overwrite: bool = False) -> dict[str, Any] | None:
    """Write the best trial of `study` into WORK/plans.json as configuration `name`; None when no trial has
    completed yet. Returns {"name", "trial", "validation_dice", "changed" (False if it was already there)}."""
    best = best_trial(study)
    if best is None:
        log.info("no completed trial yet: nothing to export")
        return None
    work = Path(work)
    plans = load_plans(work)
    config = from_dict(Configuration, best.user_attrs["configuration"], f"study {study.study_name} trial {best.number}")
    config.name = name
    config.reasons = _reasons(study, best, plans.configurations.get(study.user_attrs.get("configuration", "")), config)
    result = {"name": name, "trial": best.number, "validation_dice": best.value, "changed": True}
    existing = plans.configurations.get(name)
    if existing is not None:
        if not any(r.startswith(SEARCH_MARK) for r in existing.reasons):
            raise AutosegError(
                f"configuration '{name}' in plans.json was not written by a search",
                work / PLANS,
                "export under another name (--export NAME)",
            )
        if to_dict(existing) == to_dict(config):
            return {**result, "changed": False}
        folds = trained_folds(work, name)
        if folds and not overwrite:
            raise AutosegError(
                f"configuration '{name}' (an earlier search result) has trained folds {folds}",
                work / MODELS / name,
                "pass --overwrite to replace it with this study's best, or export under another name (--export NAME)",
            )
        if folds:
            log.warning(
                "%s: folds %s were trained with the earlier export; retrain them with 'autoseg train %s "
                "-c %s -f K --overwrite'",
                name,
                folds,
                work,
                name,
            )
    plans.configurations[name] = config
    save_plans(plans, work)
    log.info(
        "exported trial %d (validation Dice %.4f) as configuration '%s' in %s",
        best.number,
        best.value,
        name,
        work / PLANS,
    )
    return result


def _reasons(
    study: optuna.Study, best: optuna.trial.FrozenTrial, base: Configuration | None, config: Configuration
) -> list[str]:
    budget = study.user_attrs.get("trial_budget", {})
    trained = f"{budget['epochs']} epochs" if budget.get("epochs") else f"{budget.get('seconds', 0):.0f} s"
    reasons = [
        f"{SEARCH_MARK} study '{study.study_name}' trial {best.number}: validation Dice {best.value:.4f} on "
        f"fold {study.user_attrs.get('fold', '?')} after {trained} of training"
    ]
    values = best.user_attrs.get("values")
    if base is not None and values:
        before = {**plan_values(base), "learning_rate": base.training.learning_rate}
        changes = describe_changes(before, values)
        reasons.append(f"changed from {base.name}: " + ("; ".join(changes) if changes else "nothing"))
    return reasons + [r for r in config.reasons if not r.startswith(SEARCH_MARK)]
