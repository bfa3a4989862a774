"""How a 10-dataset benchmark would scale over 1-64 GPUs: the scheduler's own decisions on a simulated clock.

Pure computation (no training, no Ray): every dataset is a driver that hands batches of trainings to a pool of
W workers, as autoseg's driver hands them to the executor; a batch's outcome decides the next batch, at the
simulated time it finishes. Training durations are the recorded ones (RECORDS, with their sources); the
decisions are autoseg's own functions (candidates.admit, policy.spend_rest, training.dataset.previous_stage_folds).

Two workloads:
- cv: `benchmark --folds 0 1 2 3 4` with every configuration: 2d, 3d_fullres and, on the 4 large datasets,
  3d_lowres and the cascade (each cascade fold waits for the low-resolution folds it learns from), 15-minute
  trainings; find-best per dataset waits for all its trainings.
- schedule: `benchmark --total-budget 1h` (train --total-budget per dataset): rung 0 of successive halving,
  the cut, then the rest by spend_rest from the time left on the dataset's own clock, over the dataset's
  share of the workers (`benchmark --ray` passes each schedule workers // datasets), then find-best.
Two granularities: `stages` (every training a task of its own, whichever dataset it belongs to: what
`benchmark --ray` does since its datasets became driver tasks handing their stages to the cluster, and what
train -f and the schedule submit) and `datasets` (one task per dataset, its trainings in turn on one worker, its
schedule sized for one worker: what `benchmark --ray` did before).

    python benchmarks/distributed/simulate.py            # prints the tables of results.md
"""

from __future__ import annotations

import heapq
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from autoseg.scheduling.candidates import Candidate, admit  # noqa: E402
from autoseg.scheduling.policy import spend_rest, waves  # noqa: E402
from autoseg.training.dataset import previous_stage_folds  # noqa: E402

# Seconds, from recorded runs on this repository's benchmarks (2-core EPYC; on a GPU every number shrinks alike,
# the shape of the table does not).
RECORDS = {
    # start-up + full-image validation beyond the time budget: benchmarks/pipeline/report.md, 10-minute trainings
    # on Hippocampus: "train 2d fold 0 | 10m56s", "train 3d_fullres fold 0 | 11m33s"
    "overhead": {"2d": 56.0, "3d_fullres": 93.0, "3d_lowres": 93.0, "3d_cascade_fullres": 93.0},
    "find_best": 4.0,  # benchmarks/pipeline/report.md: "find-best | 4s"
    "planned_training": 900.0,  # the 15-minute plan: benchmarks/scheduler/results.md ("units of 900.0")
    "total_budget": 3600.0,  # the 1-hour schedule of benchmarks/scheduler/results.md
}
RESERVE, EXPLORE, ETA = 0.10, 0.25, 2  # autoseg/scheduling/run.py's RESERVE_FRACTION, EXPLORE_FRACTION, ETA
FOLDS = 5
CASCADE = {"3d_cascade_fullres": "3d_lowres"}
# 10 datasets: 4 large 3D (cascade planned), 3 small 3D, 3 2D-only (ISBI-like); winner of the 1-hour schedule
# as recorded: 3d_fullres on 3D data (Hippocampus), 2d on 2D data (ISBI).
DATASETS = (
    [("large", ["2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres"])] * 4
    + [("small", ["2d", "3d_fullres"])] * 3
    + [("flat", ["2d"])] * 3
)


@dataclass
class Job:
    name: str
    seconds: float
    after: list[str] = field(default_factory=list)


def splits(folds: int = FOLDS, cases: int = 100) -> list[dict]:
    ids = list(range(cases))
    return [
        {"train": [c for c in ids if c % folds != k], "val": [c for c in ids if c % folds == k]} for k in range(folds)
    ]


def training(name: str, fold, budget: float, after=()) -> Job:
    return Job(f"{name}:{fold}", budget + RECORDS["overhead"][name], list(after))


def cv_driver(tag: str, configs: list[str]):
    """Every configuration on every fold; a cascade fold after its low-resolution folds; then find-best."""
    jobs = []
    for name in configs:
        for fold in range(FOLDS):
            needs = (
                [f"{tag}/{CASCADE[name]}:{f}" for f in previous_stage_folds(splits(), [fold])]
                if name in CASCADE
                else []
            )
            job = training(name, fold, RECORDS["planned_training"], needs)
            job.name = f"{tag}/{job.name}"
            jobs.append(job)
    yield jobs
    yield [Job(f"{tag}/find-best", RECORDS["find_best"])]


def schedule_driver(tag: str, configs: list[str], workers: int):
    """train --total-budget: the decisions of autoseg/scheduling/run.py, on the dataset's simulated clock, the
    rest spent over `workers` (the executor's count)."""
    total, unit = RECORDS["total_budget"], RECORDS["planned_training"]
    usable = total * (1 - RESERVE)
    candidates = [Candidate(n, {}) for n in configs if n not in CASCADE and n != "3d_lowres"]
    start = yield None  # the simulated time this dataset starts
    done = 0.0
    if len(candidates) > 1:
        admitted, _, r0 = admit(candidates, usable * EXPLORE, ETA, unit)
        clock = yield [Job(f"{tag}/rung0:{c.name}", r0 + RECORDS["overhead"][c.name]) for c in admitted]
        done, winner = r0, "3d_fullres"  # the recorded cut (a tie goes to nnU-Net's order, 3d_fullres)
    else:
        clock, winner = start, candidates[0].name
    overhead = RECORDS["overhead"][winner]
    remaining = usable - (clock - start)
    folds, _ = spend_rest(remaining - overhead, done, unit, FOLDS, workers)
    if len(folds) > 1:
        folds, _ = spend_rest(remaining - overhead * waves(len(folds), workers), done, unit, FOLDS, workers)
    yield [
        Job(f"{tag}/final:{winner}:{f['fold']}", f["target"] - (done if f["fold"] == 0 else 0) + overhead)
        for f in folds
    ]
    yield [Job(f"{tag}/find-best", RECORDS["find_best"])]


def drivers(workload: str, workers: int):
    out = []
    for i, (kind, configs) in enumerate(DATASETS):
        tag = f"{kind}{i}"
        if workload == "cv":
            out.append(cv_driver(tag, configs))
        else:
            # benchmark --ray gives each dataset's schedule its share of the workers (side_by_side.py)
            driver = schedule_driver(tag, configs, max(1, workers // len(DATASETS)))
            next(driver)
            out.append(driver)
    return out


def simulate(workload: str, workers: int, granularity: str) -> tuple[float, float, float]:
    """(makespan, total work, critical path) of the workload on `workers` workers."""
    if granularity == "datasets":
        return _per_dataset(workload, workers)
    clock, free, order = 0.0, workers, itertools.count()
    queue: list[tuple[int, Job, int]] = []  # (submission order, job, driver) waiting for a worker
    running: list[tuple[float, int, Job, int]] = []  # (end, tiebreak, job, driver)
    finished: dict[str, float] = {}
    batch_left: dict[int, int] = {}
    paths: dict[str, float] = {}  # longest chain ending at each job
    driver_path: dict[int, float] = {}
    work = 0.0
    live = drivers(workload, workers)

    def advance(d: int, now: float) -> None:
        nonlocal work
        try:
            batch = live[d].send(now) if workload == "schedule" or batch_left.get(d) is not None else next(live[d])
        except StopIteration:
            return
        batch_left[d] = len(batch)
        for job in batch:
            work += job.seconds
            queue.append((next(order), job, d))

    for d in range(len(live)):
        advance(d, 0.0)
    while queue or running:
        started = True
        while started and free:
            started = False
            for item in sorted(queue):
                _, job, d = item
                if all(a in finished for a in job.after):
                    queue.remove(item)
                    free -= 1
                    begin = max([driver_path.get(d, 0.0)] + [paths[a] for a in job.after])
                    paths[job.name] = begin + job.seconds
                    heapq.heappush(running, (clock + job.seconds, next(order), job, d))
                    started = True
                    break
        end, _, job, d = heapq.heappop(running)
        clock, free = end, free + 1
        finished[job.name] = end
        batch_left[d] -= 1
        if batch_left[d] == 0:  # the driver decides when its whole batch is in
            driver_path[d] = max(paths[n] for n in finished if n.startswith(job.name.split("/")[0] + "/"))
            advance(d, clock)
    return clock, work, max(paths.values())


def _per_dataset(workload: str, workers: int) -> tuple[float, float, float]:
    """One task per dataset, its trainings one after the other (on one worker, so its clock is its own and its
    schedule sees one worker)."""
    lengths = [simulate_one(workload, i) for i in range(len(DATASETS))]
    ends = [0.0] * workers
    for length in lengths:  # in order, each to the first free worker
        k = min(range(workers), key=lambda w: ends[w])
        ends[k] += length
    return max(ends), sum(lengths), max(lengths)


def simulate_one(workload: str, index: int) -> float:
    global DATASETS
    keep = DATASETS
    DATASETS = [keep[index]]
    try:
        return simulate(workload, 1, "stages")[0]
    finally:
        DATASETS = keep


def table(workload: str) -> str:
    rows = [
        "| workers | granularity | makespan | ideal (work / workers) | makespan / ideal | critical path |",
        "|---|---|---|---|---|---|",
    ]
    for workers in (1, 4, 16, 64):
        for granularity in ("stages", "datasets"):
            makespan, work, critical = simulate(workload, workers, granularity)
            ideal = work / workers
            rows.append(
                f"| {workers} | {granularity} | {makespan / 3600:.2f} h | {ideal / 3600:.2f} h | "
                f"{makespan / ideal:.2f} | {critical / 3600:.2f} h |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    for workload in ("cv", "schedule"):
        print(f"## {workload}\n")
        print(table(workload))
        print()
