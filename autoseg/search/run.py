"""`autoseg search`: an Optuna study over the U-Net family and its training choices for one configuration.

    autoseg search WORK -c 3d_fullres --total-budget 2h --trial-budget 10m
    autoseg search WORK -c 3d_fullres --trials 20 --storage postgresql://user@host/db   # start N times = N workers

Each worker runs trials until its --trials or --total-budget is used up (a trial is only started when its whole
training budget still fits), records every trial in the study's storage, writes WORK/search/<study>/report.md
after each trial and finally exports the best trial as a configuration in plans.json (default
`<configuration>_search`) that train, predict and find-best use like any other.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna

from autoseg.errors import AutosegError
from autoseg.layout.work import SPLITS
from autoseg.preprocessing.cache import cache_dir
from autoseg.schema.plans import Plans, load_plans
from autoseg.schema.splits_file import read_splits
from autoseg.search.export import export_best
from autoseg.search.objective import Objective, TrialSettings, trial_name
from autoseg.search.options import SearchOptions
from autoseg.search.pruning import PRUNERS, budget_steps, make_pruner
from autoseg.search.report import write_report
from autoseg.search.space import Choice, SearchSpace, plan_values
from autoseg.search.storage import check_study_name, default_storage_url, open_storage, safe_url, study_dir
from autoseg.tracking.trials import log_trial
from autoseg.utils.durations import format_duration, parse_duration
from autoseg.utils.logs import get_logger, log_to_file, remove_handler

log = get_logger("search")

# A worker gives up after this many failed trials in a row: something is broken for every trial (a bug, a full
# disk), and failing the rest of the budget one trial at a time helps nobody.
MAX_CONSECUTIVE_FAILURES = 5
# Random trials before TPE models the good region (Optuna's default is 10; searches here are short).
STARTUP_TRIALS = 5


def search(
    work: str | Path, configuration: str, options: SearchOptions | None = None, **keywords: Any
) -> dict[str, Any]:
    """Run this worker's share of the study and export its best trial; returns a summary of the study.

    The options are SearchOptions' fields (options.py), given as one SearchOptions or as keywords
    (`search(work, "3d_fullres", trials=20, time_budget="2h")`).
    """
    if options is not None and keywords:
        raise TypeError("search() takes a SearchOptions or keyword options, not both")
    options = options if options is not None else SearchOptions(**keywords)
    work = Path(work)
    plans = load_plans(work)
    study_name = check_study_name(options.study or f"{configuration}_search")
    seconds, epochs = _checked_budgets(plans.configuration(configuration), options)
    fold = str(options.fold)
    _check_inputs(work, plans, configuration, fold)
    search_space = SearchSpace.for_configuration(plans.configuration(configuration), options.space)
    url = options.storage or default_storage_url(work, study_name)
    out = study_dir(work, study_name)
    handler = log_to_file(out / "search.log")
    handler.addFilter(lambda record: record.name.startswith("autoseg.search"))  # trials keep their own train.log
    try:
        optuna_study = _open_study(
            url, study_name, options.seed, make_pruner(options.pruner, budget_steps(seconds, epochs))
        )
        _describe_study(
            optuna_study,
            configuration,
            search_space,
            {"fold": fold, "pruner": options.pruner, "trial_budget": {"seconds": seconds, "epochs": epochs}},
        )
        _enqueue_first(optuna_study, search_space, plans.configuration(configuration), options)
        settings = TrialSettings(
            work=work,
            plans=plans,
            base=configuration,
            study=study_name,
            space=search_space,
            fold=fold,
            seconds=seconds,
            epochs=epochs,
            device=options.device,
            workers=options.workers,
            progress=options.progress,
            archive=out / "trials",
        )
        log.info(
            "search %s on %s: %s per trial, pruner %s, storage %s",
            study_name,
            configuration,
            format_duration(seconds) if seconds else f"{epochs} epochs",
            options.pruner,
            safe_url(url),
        )
        if options.trials != 0:
            on_trial = (
                None
                if options.tracking is None
                else lambda t: log_trial(
                    options.tracking, t, plans, work, out / "trials" / trial_name(study_name, t.number) / f"fold_{fold}"
                )
            )
            _optimize(
                optuna_study,
                Objective(settings),
                (options.trials, parse_duration(options.time_budget), seconds),
                (out, url),
                on_trial,
            )
        return _finish(optuna_study, work, configuration, options, (out, url))
    finally:
        remove_handler(handler)


def _checked_budgets(base, options: SearchOptions) -> tuple[float | None, int | None]:
    """Each trial's budget (seconds or epochs), after refusing a search without an end or shorter than a trial."""
    seconds, epochs = _trial_budget(base, options.trial_budget, options.trial_epochs)
    total_seconds = parse_duration(options.time_budget)
    if options.trials is None and total_seconds is None:
        raise AutosegError("a search needs an end", fix="give --trials N and/or --total-budget (e.g. 2h)")
    if total_seconds is not None and seconds is not None and total_seconds < seconds:
        raise AutosegError(
            f"the search budget {format_duration(total_seconds)} is shorter than one trial's "
            f"{format_duration(seconds)}",
            fix="give a larger --total-budget or a smaller --trial-budget",
        )
    if options.pruner not in PRUNERS:
        raise AutosegError(f"unknown pruner '{options.pruner}'", fix=f"use one of {list(PRUNERS)}")
    return seconds, epochs


def _finish(
    study: optuna.Study, work: Path, configuration: str, options: SearchOptions, where: tuple[Path, str]
) -> dict[str, Any]:
    """The final report, the export of the best trial, and the study's summary."""
    out, url = where
    report = write_report(study, out, safe_url(url))
    exported = None
    export_name = f"{configuration}_search" if options.export is None else options.export
    if export_name:
        exported = export_best(work, study, export_name, overwrite=options.overwrite)
    return _summary(study, study.study_name, url, report, exported)


def _trial_budget(base, trial_budget, trial_epochs) -> tuple[float | None, int | None]:
    if trial_epochs is not None:
        if trial_budget is not None:
            raise AutosegError(
                "give the trial budget as time or as epochs, not both", fix="drop --trial-budget or --trial-epochs"
            )
        if int(trial_epochs) < 1:
            raise AutosegError(f"--trial-epochs must be at least 1, got {trial_epochs}", fix="e.g. --trial-epochs 20")
        return None, int(trial_epochs)
    seconds = parse_duration(trial_budget)
    if seconds is None:
        seconds = base.training.time_budget_s
    if seconds:
        return float(seconds), None
    return None, max(1, base.training.epochs // 10)


def _check_inputs(work: Path, plans: Plans, configuration: str, fold: str) -> None:
    """Problems every trial would hit, reported once before the study starts."""
    folder = cache_dir(work, plans.configuration(configuration))
    if not folder.is_dir() or not any(folder.glob("*.npy")):
        raise AutosegError(
            f"configuration '{configuration}' is not preprocessed",
            folder,
            f"run 'autoseg preprocess {work} -c {configuration}'",
        )
    if fold == "all":
        raise AutosegError("a search needs validation cases to score trials", fix="use a fold number, e.g. -f 0")
    splits = read_splits(work / SPLITS)
    if not fold.isdigit() or int(fold) >= len(splits) or not splits[int(fold)]["val"]:
        raise AutosegError(
            f"fold {fold} does not exist or has no validation cases", work / SPLITS, f"use -f 0..{len(splits) - 1}"
        )


def _open_study(url: str, name: str, seed: int | None, pruner) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our log says what happened, once
    storage = open_storage(url)
    # constant_liar: parallel workers see each other's running trials as bad guesses and sample elsewhere.
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS, constant_liar=True)
    return optuna.create_study(
        storage=storage, study_name=name, direction="maximize", sampler=sampler, pruner=pruner, load_if_exists=True
    )


def _describe_study(study: optuna.Study, configuration: str, space: SearchSpace, settings: dict[str, Any]) -> None:
    """Record what the study searches (`settings`: fold, pruner, trial budget); refuse to mix configurations
    in one study."""
    attrs = study.user_attrs
    if "configuration" in attrs and attrs["configuration"] != configuration:
        raise AutosegError(
            f"study '{study.study_name}' searches configuration '{attrs['configuration']}'",
            fix=f"use -c {attrs['configuration']}, or another --study name for '{configuration}'",
        )
    described = {"configuration": configuration, "space": space.to_dict(), **settings}
    for key, value in described.items():
        if key not in attrs:
            study.set_user_attr(key, value)
        elif attrs[key] != value:
            log.warning(
                "study %s was started with %s %s; this worker uses %s", study.study_name, key, attrs[key], value
            )


def _enqueue_first(study: optuna.Study, space: SearchSpace, base, options: SearchOptions) -> None:
    """On a study without trials: the plan's own configuration first (a reference for the pruner and the
    report), then the caller's parameter sets, then one trial per other architecture. Several workers starting
    together may each enqueue them; Optuna hands every enqueued trial to one worker only, so a duplicate costs
    one trial, never a lost one."""
    if study.get_trials(deepcopy=False):
        return
    point = space.searchable_point(plan_values(base))
    first = [point] if options.baseline else []
    sweep = _architecture_points(space, point) if options.architecture_sweep else []
    for params in first + list(options.enqueue or []) + sweep:
        study.enqueue_trial(params, skip_if_exists=True)


def _architecture_points(space: SearchSpace, point: dict[str, Any]) -> list[dict[str, Any]]:
    """`point` with each other architecture the space offers. TPE with a few dozen trials does not cover a
    categorical choice: the 37 trials of the 80-minute Hippocampus search never tried dense_unet. A comparison of
    every architecture at the plan's own settings is what an architecture search is first asked for."""
    param = space.params.get("architecture")
    if not isinstance(param, Choice):
        return []
    return [{**point, "architecture": name} for name in param.choices if name != point.get("architecture")]


def _optimize(
    study: optuna.Study,
    objective: Objective,
    limits: tuple[int | None, float | None, float | None],
    where: tuple[Path, str],
    on_trial=None,
) -> None:
    """Run trials until `limits` (trials, this worker's seconds, one trial's seconds) are used up, the report
    in `where` (folder, storage URL) updated after each. `on_trial(frozen_trial)` is called as each trial ends
    (MLflow tracking)."""
    trials, total_seconds, trial_seconds = limits
    out, url = where
    started = time.monotonic()
    states: list[optuna.trial.TrialState] = []

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        states.append(trial.state)
        if on_trial is not None:
            on_trial(trial)
        try:
            write_report(study, out, safe_url(url))
        except Exception as error:  # a report problem must not end a long search; the final report retries
            log.warning("could not update %s: %s", out / "report.md", error)
        recent = states[-MAX_CONSECUTIVE_FAILURES:]
        if len(recent) == MAX_CONSECUTIVE_FAILURES and all(s == optuna.trial.TrialState.FAIL for s in recent):
            log.error(
                "%d trials in a row failed; stopping this worker (see their 'error' attribute in %s)",
                MAX_CONSECUTIVE_FAILURES,
                out / "report.md",
            )
            study.stop()
        if total_seconds is not None and trial_seconds is not None:
            remaining = total_seconds - (time.monotonic() - started)
            if remaining < trial_seconds:
                log.info(
                    "search budget: %s left, less than one trial's %s; stopping",
                    format_duration(max(remaining, 0)),
                    format_duration(trial_seconds),
                )
                study.stop()

    study.optimize(
        objective,
        n_trials=trials,
        timeout=total_seconds,
        catch=(Exception,),
        callbacks=[after_trial],
        gc_after_trial=True,
    )


def _summary(study: optuna.Study, name: str, url: str, report: Path, exported: dict | None) -> dict[str, Any]:
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    completed = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    best = max(completed, key=lambda t: t.value) if completed else None
    return {
        "study": name,
        "storage": safe_url(url),
        "trials": len(states),
        "states": {s: states.count(s) for s in sorted(set(states))},
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params},
        "report": str(report),
        "exported": exported,
    }
