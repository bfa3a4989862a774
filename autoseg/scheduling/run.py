"""`autoseg train WORK --total-budget 1h`: one budget for the whole job.

1. Candidates (candidates.py): every configuration of plans.json; a cascade first trains its low-resolution
   stage on the folds it needs (its entry cost).
2. Exploration: EXPLORE_FRACTION of the budget, spent by successive halving (halving.py, eta = ETA) on fold 0:
   every candidate trains a share r0, the better half trains on to ETA * r0, and so on until one is left.
   Rung trainings skip the full-image validation (pseudo-Dice decides); a failing candidate is stopped.
3. The rest (policy.py): the winner's fold 0 extended and more folds trained, each validated on full images.
4. find-best on the winner, so `autoseg predict WORK` uses it; WORK/schedule.json records every step.

In seconds the budget is the job's wall time, whatever the device (CPU, CUDA) or the number of processes
(torchrun: rank 0 decides and writes schedule.json, the other ranks join each training it starts). A share of
RESERVE_FRACTION is kept for the full-image validations and find-best, which the trainings' budgets do not count.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.inference.find_best import inference_costs
from autoseg.layout.work import SCHEDULE, SPLITS
from autoseg.scheduling import candidates as cand
from autoseg.scheduling.batch import StepSpec, run_steps
from autoseg.scheduling.halving import cut, smoothed_pseudo_dice
from autoseg.scheduling.policy import spend_rest, waves
from autoseg.scheduling.schedule_file import ScheduleFile, is_writer, now_iso
from autoseg.scheduling.steps import history, own_time
from autoseg.scheduling.units import EPOCHS, SECONDS, Units, parse_total
from autoseg.schema.plans import Plans, load_plans
from autoseg.schema.splits_file import read_splits
from autoseg.tracking.schedule import schedule_run
from autoseg.utils.logs import get_logger, log_to_file, remove_handler

log = get_logger("schedule")
EXPLORE_FRACTION = 0.25
RESERVE_FRACTION = 0.10
ETA = 2


def schedule(
    work: str | Path,
    total_budget: str | float | None = None,
    *,
    total_epochs: int | None = None,
    resume: bool = False,
    configurations: list[str] | None = None,
    device: str = "auto",
    workers: str | int | None = None,
    progress: bool = True,
    explore_fraction: float = EXPLORE_FRACTION,
    executor=None,
    tracking=None,
) -> dict[str, Any]:
    """Run (or with resume=True continue) a schedule in WORK; returns the schedule (also WORK/schedule.json).

    `executor` (autoseg.execution): where the trainings run; default this process, one after the other. On Ray
    the trainings a decision does not separate (a rung's candidates, the cascades' entry folds, the final folds)
    run side by side; the decisions stay here. `tracking` (autoseg.tracking.TrackingContext): the schedule is an
    MLflow run and each of its trainings a run nested in it."""
    work = Path(work)
    plans = load_plans(work)
    splits = read_splits(work / SPLITS)
    if not is_writer():
        from autoseg.scheduling.follow import follow

        return follow(work, device, workers)
    fresh = {} if resume else _fresh_state(plans, splits, total_budget, total_epochs, configurations, explore_fraction)
    file = ScheduleFile.open(work, resume, fresh)
    if resume:
        _check_same_total(file.state, total_budget, total_epochs)
    handler = log_to_file(work / "schedule.log")
    try:
        file.save()
        with schedule_run(tracking, file.state, file.save) as nested:
            return _Run(
                work,
                plans,
                splits,
                file,
                device=device,
                workers=workers,
                progress=progress,
                executor=executor,
                tracking=nested,
            ).run()
    finally:
        remove_handler(handler)


def _fresh_state(plans: Plans, splits, total_budget, total_epochs, configurations, explore_fraction):
    units, total = parse_total(total_budget, total_epochs)
    usable = total * (1 - RESERVE_FRACTION) if units.kind == SECONDS else total
    explore = usable * explore_fraction
    every = cand.all_candidates(plans, splits, configurations)
    unit = planned_training(plans, every[0].name, units)
    admitted, skipped, r0 = cand.admit(every, explore, ETA, unit) if len(every) > 1 else (every, {}, 0.0)
    if len(admitted) > 1:
        admitted, narrowed, r0 = cand.narrow_to_comparable(admitted, explore, ETA, unit)
        skipped.update(narrowed)
        for name, why in narrowed.items():
            log.info("schedule: %s not considered: %s", name, why)
    r0 = units.round(r0)
    if len(admitted) > 1 and r0 < (1 if units.kind == EPOCHS else 10):
        raise AutosegError(
            f"a total of {units.describe(total)} leaves {units.describe(r0)} for each of "
            f"{len(admitted)} candidates' first share",
            fix="give a larger total budget, or "
            "fewer candidates (plan with -c CONFIG, or train one with -c CONFIG -f 0)",
        )
    costs = inference_costs(plans, [(c.name,) for c in admitted])
    return {
        "total": {"units": units.kind, "amount": total, "described": units.describe(total)},
        "usable": round(usable, 2),
        "reserve_fraction": RESERVE_FRACTION if units.kind == SECONDS else 0.0,
        "explore": round(explore, 2),
        "eta": ETA,
        "first_share": r0,
        "candidates": [c.to_dict() for c in admitted],
        "skipped": skipped,
        "inference_cost": {n[0]: round(v, 3) for n, v in costs.items()},
    }


def planned_training(plans: Plans, name: str, units: Units) -> float:
    """One model's training as the plan sized it (its time budget, or its epochs); 0 when it has no time budget."""
    tplan = plans.configuration(name).training
    return float(tplan.epochs) if units.kind == EPOCHS else float(tplan.time_budget_s or 0.0)


def _check_same_total(state, total_budget, total_epochs) -> None:
    if total_budget is None and total_epochs is None:
        return
    units, total = parse_total(total_budget, total_epochs)
    if units.kind != state["total"]["units"] or abs(total - state["total"]["amount"]) > 1e-6:
        raise AutosegError(
            f"this schedule was started with a total of {state['total']['described']}",
            Path(SCHEDULE),
            "resume with the same --total-budget, or without one",
        )


class _Run:
    def __init__(
        self,
        work: Path,
        plans: Plans,
        splits,
        file: ScheduleFile,
        *,
        device,
        workers,
        progress,
        executor=None,
        tracking=None,
    ):
        from autoseg.execution.local import LocalExecutor

        self.tracking = tracking  # where the trainings log their MLflow runs (None: not tracked)
        self.work, self.plans, self.splits, self.file = work, plans, splits, file
        self.executor = executor or LocalExecutor()
        self.state = file.state
        self.units = Units(self.state["total"]["units"])
        self.device, self.workers, self.progress = device, workers, progress

    def run(self) -> dict[str, Any]:
        if self.state["status"] == "finished":
            log.info("schedule: already finished (%s)", self.file.path)
            return self.state
        alive = self._enter_cascades([cand.Candidate(c["name"], c["stage_folds"]) for c in self.state["candidates"]])
        winner = self._halve(alive)
        self._spend_rest(winner)
        self._find_best(winner)
        self.state.update({"status": "finished", "finished": now_iso(), "winner": winner})
        self.file.save()
        log.info(
            "schedule: finished in %s of wall time (%s budget)",
            time.strftime("%H:%M:%S", time.gmtime(self.file.wall_seconds())),
            self.state["total"]["described"],
        )
        return self.state

    # -- steps ---------------------------------------------------------------------------------------------
    def _steps(self, specs: list[StepSpec]) -> dict[str, bool]:
        """Run steps the schedule's decisions do not separate, side by side where the executor can (a step
        already done in schedule.json is not run again); {step id: succeeded}."""
        return run_steps(
            self.executor,
            self.work,
            self.file,
            self.units,
            specs,
            {
                "device": self.device,
                "workers": self.workers,
                "progress": self.progress,
                "tracking": self.tracking.to_dict() if self.tracking else None,
            },
        )

    def _enter_cascades(self, candidates: list[cand.Candidate]) -> list[str]:
        """Train every cascade's earlier stages (validated: the cascade learns from their predictions)."""
        alive = []
        r0 = self.state["first_share"] or self._unit(candidates[0].name)
        entries = {
            c.name: [
                StepSpec(
                    f"entry:{stage}:fold{f}",
                    stage,
                    f,
                    r0,
                    True,
                    f"{c.name} learns from {stage}'s out-of-fold predictions",
                )
                for stage, folds in c.stage_folds.items()
                for f in folds
            ]
            for c in candidates
        }
        ran = self._steps([spec for specs in entries.values() for spec in specs])
        for c in candidates:
            ok = all(ran[spec.id] for spec in entries[c.name])
            if ok:
                alive.append(c.name)
            else:
                self._stop(c.name, "an earlier cascade stage failed to train")
        return alive

    def _stop(self, name: str, why: str) -> None:
        self.state["stopped"][name] = why
        self.file.save()

    # -- exploration ---------------------------------------------------------------------------------------
    def _halve(self, alive: list[str]) -> str:
        r0, rung = self.state["first_share"], 0
        while len(alive) > 1:
            target = r0 * ETA**rung
            recorded = next((r for r in self.state["rungs"] if r["rung"] == rung), None)
            if recorded is None:
                ran = self._steps(
                    [
                        StepSpec(
                            f"rung{rung}:{n}",
                            n,
                            0,
                            target,
                            False,
                            f"rung {rung}: every candidate trains {self.units.describe(target)} on fold 0",
                        )
                        for n in alive
                    ]
                )
                ran = {n: ran[f"rung{rung}:{n}"] for n in alive}
                scores = {
                    n: smoothed_pseudo_dice(history(self.work, n, 0), self.units.own_time) if ran[n] else None
                    for n in alive
                }
                survivors, stopped = cut(scores, ETA, self.state["inference_cost"], cand.DEFAULT_ORDER)
                recorded = {
                    "rung": rung,
                    "share": target,
                    "scores": scores,
                    "survivors": survivors,
                    "stopped": stopped,
                    "decided": now_iso(),
                }
                self.state["rungs"].append(recorded)
                self.state["stopped"].update(stopped)
                self.file.save()
                log.info(
                    "schedule: rung %d at %s: scores %s; keeping %s; stopped %s",
                    rung,
                    self.units.describe(target),
                    scores,
                    survivors,
                    stopped,
                )
            alive, rung = recorded["survivors"], rung + 1
        if not alive:
            raise AutosegError(
                "every candidate configuration failed to train",
                self.file.path,
                "read schedule.log and the candidates' train.log for the error",
            )
        return alive[0]

    # -- the rest --------------------------------------------------------------------------------------------
    def _unit(self, name: str) -> float:
        """One model's training as the plan sized it (policy.py)."""
        tplan = self.plans.configuration(name).training
        if self.units.kind == EPOCHS:
            return float(tplan.epochs)
        if tplan.time_budget_s:
            return float(tplan.time_budget_s)
        done = history(self.work, name, 0)
        if done:  # a plan sized by epochs (a GPU plan): its epochs at the speed fold 0 showed
            return float(done[-1]["elapsed_s"]) / len(done) * tplan.epochs
        return math.inf

    def _spent(self) -> float:
        if self.units.kind == SECONDS:
            return self.file.wall_seconds()
        return sum(s.get("trained", 0.0) for s in self.state["steps"])

    def _overhead(self) -> float:
        """Seconds mode: the mean wall time a training step took beyond the training it counted (start-up, data
        loaders, the precision timing, checkpoints), measured on this schedule's steps so far; 0 in epochs."""
        done = [s for s in self.state["steps"] if s["status"] == "done" and s.get("call")]
        if self.units.kind != SECONDS or not done:
            return 0.0
        return max(0.0, sum(s["wall_seconds"] - s["trained"] for s in done) / len(done))

    def _spend_rest(self, winner: str) -> None:
        policy = self.state.get("policy")
        if policy is None:
            done = own_time(self.work, winner, 0, self.units)
            remaining = self.state["usable"] - self._spent()
            unit = self._unit(winner)
            overhead = self._overhead()
            # Wall time is shared by the trainings running side by side; epochs count every training's own.
            workers = self.executor.workers() if self.units.kind == SECONDS else 1
            folds, reason = spend_rest(remaining - overhead, done, unit, len(self.splits), workers)
            if len(folds) > 1:  # each training pays its start-up, the busiest worker once per fold it runs
                folds, reason = spend_rest(
                    remaining - overhead * waves(len(folds), workers), done, unit, len(self.splits), workers
                )
            for entry in folds:
                entry["target"] = self.units.round(entry["target"])
            policy = {
                "winner": winner,
                "remaining": round(remaining, 2),
                "winner_fold0_done": round(done, 2),
                "unit": unit,
                "overhead_per_training": round(overhead, 1),
                "workers": workers,
                "folds": folds,
                "reason": reason,
                "decided": now_iso(),
            }
            self.state["policy"] = policy
            self.file.save()
            log.info("schedule: %s wins; %s", winner, reason)
        specs: dict[str, StepSpec] = {}
        for entry in policy["folds"]:
            fold = entry["fold"]
            needs = self._fold_stages(winner, fold)  # the cascade waits for the low-resolution folds it needs
            specs.update({s.id: s for s in needs if s.id not in specs})
            final = StepSpec(
                f"final:{winner}:fold{fold}",
                winner,
                fold,
                entry["target"],
                True,
                policy["reason"],
                must_succeed=fold == 0,
                after=[s.id for s in needs],
            )
            specs[final.id] = final
        self._steps(list(specs.values()))

    def _fold_stages(self, name: str, fold: int) -> list[StepSpec]:
        """The earlier-stage steps a cascade's fold needs, earliest stage first."""
        from autoseg.training.dataset import previous_stage_folds

        previous, folds, specs = self.plans.configuration(name).previous_stage, [fold], []
        while previous:
            folds = previous_stage_folds(self.splits, folds)
            earlier = [
                StepSpec(
                    f"entry:{previous}:fold{f}",
                    previous,
                    f,
                    self.state["first_share"] or self._unit(previous),
                    True,
                    f"{name} fold {fold} needs it",
                    must_succeed=True,
                )
                for f in folds
            ]
            for later in specs:  # a stage trains on the predictions of the stage before it
                later.after.extend(s.id for s in earlier)
            specs[:0] = earlier
            previous = self.plans.configuration(previous).previous_stage
        return specs

    def _find_best(self, winner: str) -> None:
        from autoseg.inference.find_best import find_best

        if self.state.get("find_best"):
            return
        result = find_best(self.work, [winner], progress=self.progress)
        self.state["find_best"] = {
            k: result.get(k) for k in ("configurations", "folds", "chosen_dice", "postprocessing", "choice")
        }
        self.file.save()
