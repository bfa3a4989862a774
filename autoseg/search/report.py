"""WORK/search/<study>/report.md: what the study tried, what won, which parameters mattered, and why trials
stopped early; with history.png and intermediate.png next to it. Rewritten after every trial.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna

from autoseg.search.export import best_trial
from autoseg.search.plots import plot_history, plot_intermediate
from autoseg.utils.files import atomic_write

TrialState = optuna.trial.TrialState
BEST_ROWS = 10
MIN_TRIALS_FOR_IMPORTANCE = 3


def write_report(study: optuna.Study, folder: Path, storage_url: str) -> Path:
    folder = Path(folder)
    trials = study.get_trials(deepcopy=False)
    plot_history(trials, folder / "history.png")
    plot_intermediate(trials, folder / "intermediate.png")
    text = "\n".join(
        _header(study, trials, storage_url)
        + _best_table(study, trials)
        + _importances(study, trials)
        + ["## Optimisation history", "", "![history](history.png)", "", "![intermediate values](intermediate.png)", ""]
        + _stopped(trials)
    )
    path = folder / "report.md"

    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    return atomic_write(path, write, suffix=".md")


def _header(study: optuna.Study, trials, storage_url: str) -> list[str]:
    attrs = study.user_attrs
    states = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    not_trained = sum("not_trained" in t.user_attrs for t in trials)
    budget = attrs.get("trial_budget", {})
    per_trial = f"{budget['epochs']} epochs" if budget.get("epochs") else f"{budget.get('seconds', 0) / 60:.1f} min"
    lines = [
        f"# Search study `{study.study_name}`: configuration `{attrs.get('configuration', '?')}`",
        "",
        f"- trials: {len(trials)} ({', '.join(f'{n} {k.lower()}' for k, n in states.items() if n)}"
        + (f"; {not_trained} of the pruned were not trained: over the device budget" if not_trained else "")
        + ")",
        f"- each trial trains fold {attrs.get('fold', '?')} for {per_trial}; pruner: {attrs.get('pruner', '?')}",
        f"- storage: `{storage_url}`; browse it with `optuna-dashboard {storage_url}` (`pip install optuna-dashboard`)",
    ]
    best = best_trial(study)
    if best is not None:
        lines.append(f"- best: trial {best.number}, validation Dice {best.value:.4f}")
    return lines + [""]


def _searched(trials) -> list[str]:
    names: list[str] = []
    for t in trials:
        names += [n for n in t.params if n not in names]
    return names


def _best_table(study: optuna.Study, trials) -> list[str]:
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)[:BEST_ROWS]
    if not complete:
        return ["## Best trials", "", "No trial has completed yet.", ""]
    params = _searched(trials)
    header = ["rank", "trial", "Dice", "per class", *params, "GFLOP/it", "it/s", "train min"]
    rows = []
    for rank, t in enumerate(complete, 1):
        per_class = t.user_attrs.get("validation_dice_per_class") or {}
        rows.append(
            [
                str(rank),
                str(t.number),
                f"{t.value:.4f}",
                " ".join(f"{k} {v:.3f}" for k, v in per_class.items()),
                *[_cell(t.params.get(p, "")) for p in params],
                _cell(t.user_attrs.get("gflops_train", "")),
                _cell(t.user_attrs.get("iterations_per_second", "")),
                _cell(t.user_attrs.get("training_seconds", 0) / 60),
            ]
        )
    return ["## Best trials", "", *_table(header, rows), ""]


def _importances(study: optuna.Study, trials) -> list[str]:
    lines = ["## Parameter importances", ""]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return lines + [f"Needs at least {MIN_TRIALS_FOR_IMPORTANCE} completed trials ({len(complete)} so far).", ""]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError) as error:
        return lines + [f"Not computable yet: {error}", ""]
    if not importances:
        return lines + ["No parameter varied between the completed trials.", ""]
    rows = [[name, f"{value:.3f}"] for name, value in importances.items()]
    return lines + [
        "Share of the variation in validation Dice explained by each parameter (Optuna's default "
        "evaluator, over completed trials; noisy with few trials).",
        "",
        *_table(["parameter", "importance"], rows),
        "",
    ]


def _stopped(trials) -> list[str]:
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        reason = t.user_attrs.get("not_trained") or t.user_attrs.get("state_reason") or t.user_attrs.get("error")
        if t.state in (TrialState.PRUNED, TrialState.FAIL):
            reason = reason or "no error recorded: its worker stopped (killed, interrupted or lost)"
            rows.append([str(t.number), t.state.name.lower(), reason.replace("|", "/").replace("\n", " ")[:300]])
    if not rows:
        return []
    return ["## Pruned, not trained and failed trials", "", *_table(["trial", "state", "why"], rows), ""]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
