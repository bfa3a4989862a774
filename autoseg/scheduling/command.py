"""`autoseg train WORK --total-budget 1h [--resume]`: the CLI side of the scheduler (cli.py hands over here)."""

from __future__ import annotations

from autoseg.errors import AutosegError

# Options of a single training that a schedule decides itself (or cannot honour).
_NOT_WITH_SCHEDULE = {
    "configurations": "-c",
    "folds": "-f",
    "extend": "--extend",
    "overwrite": "--overwrite",
    "init_from": "--init-from",
    "deterministic": "--deterministic",
    "no_validation": "--no-validation",
}


def run_schedule_command(a) -> int:
    given = [flag for attr, flag in _NOT_WITH_SCHEDULE.items() if getattr(a, attr, None)]
    if given:
        raise AutosegError(
            f"--total-budget chooses the configurations, folds and their training itself; "
            f"{', '.join(given)} cannot be combined with it",
            fix="drop " + " ".join(given) + ", or train one model with -c CONFIG -f FOLD --time-budget T instead",
        )
    from autoseg.execution.options import executor_from_arguments
    from autoseg.scheduling import schedule
    from autoseg.tracking.options import context_from_arguments, work_experiment

    tracking = context_from_arguments(a, a.work, lambda: work_experiment(a.work))
    with executor_from_arguments(a) as executor:
        state = schedule(
            a.work,
            a.total_budget,
            resume=a.resume,
            device=a.device,
            workers=a.workers,
            executor=executor,
            tracking=tracking,
        )
    if not state or "winner" not in state:
        return 0  # a torchrun rank other than 0: rank 0 prints the outcome
    chosen = state.get("find_best") or {}
    for rung in state["rungs"]:
        print(
            f"rung {rung['rung']}: "
            + ", ".join(f"{n} {s:.4f}" if s is not None else f"{n} failed" for n, s in rung["scores"].items())
            + f" -> kept {', '.join(rung['survivors'])}"
        )
    print(
        f"{state['winner']} on folds {chosen.get('folds')} ({state['policy']['reason']}); CV Dice "
        f"{chosen.get('chosen_dice', float('nan')):.4f}; {state['wall_seconds'] / 60:.1f} min of "
        f"{state['total']['described']}; record: {a.work}/schedule.json"
    )
    return 0
