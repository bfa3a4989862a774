"""Issue 27 without Ray (fast): how `benchmark --ray` hands one dataset's stages to an executor (what waits for
what, the records, a failure) and how the rest of a schedule's budget is spent on N workers."""

from __future__ import annotations

import json
import shutil

import pytest

from autoseg.benchmark.side_by_side import dataset_records
from autoseg.benchmark.stage_dispatch import stage_kind, train_side_by_side, training_jobs, training_stage_tasks
from autoseg.errors import AutosegError
from autoseg.execution.executor import DRIVER, LIGHT, TRAINING, Executor, Outcome
from autoseg.execution.local import LocalExecutor
from autoseg.scheduling import schedule
from autoseg.scheduling.policy import spend_rest, waves

SPLITS = [
    {"train": [c for c in range(10) if c % 5 != k], "val": [c for c in range(10) if c % 5 == k]} for k in range(5)
]


class Recording(Executor):
    """Takes tasks, runs none: its outcomes come back in the reverse order, the tasks named in `fail` failed."""

    where = "fake"

    def __init__(self, fail=()):
        self.submitted, self.fail = [], set(fail)

    def submit(self, task):
        self.submitted.append(task)

    def as_completed(self):
        while self.submitted:
            task = self.submitted.pop()
            attempts = [
                {
                    "attempt": 1,
                    "node_id": f"node-{len(self.submitted) % 2}",
                    "host": "h",
                    "started": "s",
                    "ended": "e",
                    "outcome": "done",
                }
            ]
            if task.name in self.fail:
                yield Outcome(task, error=RuntimeError("out of memory"), attempts=attempts)
            else:
                yield Outcome(
                    task,
                    value={"summary": {}, "seconds": 1.5, "peak_ram_mb": 10.0, "peak_rss_sum_mb": 12.0},
                    attempts=attempts,
                )

    def nodes(self):
        return []


def _tasks(tmp_path):
    folds = {"3d_lowres": [0, 1, 2, 3, 4], "3d_cascade_fullres": [0, 2], "2d": [0]}
    jobs = training_jobs(tmp_path / "W", folds, "15m", None, "cpu")
    previous = {"3d_lowres": None, "3d_cascade_fullres": "3d_lowres", "2d": None}
    return jobs, training_stage_tasks(jobs, previous, SPLITS)


def test_a_cascade_fold_waits_only_for_the_low_resolution_folds_it_learns_from(tmp_path):
    jobs, tasks = _tasks(tmp_path)
    after = {t.name: t.after for t in tasks}
    assert after["3d_cascade_fullres fold 0"] == [f"3d_lowres fold {f}" for f in range(5)]  # every fold holds
    assert all(after[f"3d_lowres fold {f}"] == [] for f in range(5)) and after["2d fold 0"] == []  # one out
    assert {t.kind for t in tasks} == {TRAINING} and all(t.record for t in tasks)  # retried, resumed from record
    assert jobs[0].time_budget == "15m" and jobs[0].epochs is None and not jobs[0].progress
    epochs = training_jobs(tmp_path / "W", {"2d": [0]}, "15m", 2, "cpu")[0]
    assert epochs.epochs == 2 and epochs.time_budget is None  # as `train --epochs 2` (the budget not passed)


def test_every_training_is_submitted_before_any_is_waited_for_and_recorded_in_order(tmp_path):
    _, tasks = _tasks(tmp_path)
    executor, records = Recording(), []
    submitted = []
    executor.submit = lambda task: (submitted.append(task.name), Recording.submit(executor, task))
    train_side_by_side(executor, tasks, records, tmp_path)
    assert submitted == [t.name for t in tasks]
    assert [r["name"] for r in records] == ["train " + t.name for t in tasks]  # not the order they ended in
    record = records[0]
    assert record["returncode"] == 0 and record["seconds"] == 1.5 and record["peak_ram_mb"] == 10.0
    assert record["log"] == "W/models/3d_lowres/fold_0/train.log"
    assert record["ran_on"]["node_id"].startswith("node-") and record["ran_on"]["retries"] == 0


def test_a_failed_training_fails_the_dataset_after_the_others_ended(tmp_path):
    _, tasks = _tasks(tmp_path)
    records = []
    with pytest.raises(AutosegError, match="train 3d_lowres fold 3.*out of memory"):
        train_side_by_side(Recording(fail={"3d_lowres fold 3"}), tasks, records, tmp_path)
    assert len(records) == len(tasks)
    assert [r["returncode"] for r in records if r["name"] == "train 3d_lowres fold 3"] == [1]


def test_stage_resources():
    assert stage_kind("verify") == stage_kind("find-best") == stage_kind("evaluate (TTA)") == LIGHT
    assert stage_kind("plan") == stage_kind("predict fold 0 (TTA)") == TRAINING
    assert stage_kind("schedule") == DRIVER


def test_the_local_executor_keeps_todays_benchmark(monkeypatch, tmp_path):
    """No dataset task and no executor reaches the stages: benchmark_dataset runs each dataset here, in turn."""
    import autoseg.benchmark.side_by_side as side_by_side

    calls = []
    monkeypatch.setattr(
        side_by_side,
        "benchmark_dataset",
        lambda dataset, key, report_dir, settings, *rest: calls.append((key, rest)) or {"k": key},
    )
    out = list(dataset_records([tmp_path / "a", tmp_path / "b"], ["a", "b"], tmp_path, None, LocalExecutor()))
    assert out == [(0, {"k": "a"}), (1, {"k": "b"})] and calls == [("a", ()), ("b", ())]


def test_the_rest_of_the_budget_keeps_n_workers_busy():
    one, _ = spend_rest(remaining=45.0, winner_done=7.5, unit=15.0, folds=5)
    assert one == spend_rest(remaining=45.0, winner_done=7.5, unit=15.0, folds=5, workers=1)[0]  # unchanged
    # 4 workers, 45 s of wall time each: 5 folds (fold 0's worker also runs fold 4) instead of 3
    four, reason = spend_rest(remaining=45.0, winner_done=7.5, unit=15.0, folds=5, workers=4)
    assert [f["fold"] for f in four] == [0, 1, 2, 3, 4] and four[0]["target"] == pytest.approx(52.5 / 2)
    assert "4 side by side on 4 workers" in reason
    # as many workers as folds: every fold trains the whole rest (fold 0 the rest less its head start)
    five, _ = spend_rest(remaining=45.0, winner_done=7.5, unit=15.0, folds=5, workers=8)
    assert len(five) == 5 and all(f["target"] == pytest.approx(45.0) for f in five)
    # never past the wall time: every worker's folds fit in what is left
    for workers in (1, 2, 3, 4, 7):
        folds, _ = spend_rest(remaining=100.0, winner_done=10.0, unit=15.0, folds=5, workers=workers)
        lanes = [
            sum(f["target"] - (10.0 if f["fold"] == 0 else 0) for f in folds[lane::workers]) for lane in range(workers)
        ]
        assert max(lanes) <= 100.0 + 1e-6 and waves(len(folds), workers) == -(-len(folds) // workers)
    # less than a unit on each worker: one longer model, as with one worker
    assert spend_rest(remaining=10.0, winner_done=2.0, unit=15.0, folds=5, workers=4)[0] == [
        {"fold": 0, "target": 12.0}
    ]


class ThreeWorkers(LocalExecutor):
    def workers(self) -> int:
        return 3


def test_schedule_spends_the_rest_on_the_executors_workers(planned_3d, tmp_path, monkeypatch):
    """Seconds mode, a stand-in trainer (no training): 1 h on 3 workers gives 5 folds of 1620 s each (fold 0's
    worker and one other run two), where one worker gives 5 folds of 648 s."""
    import autoseg.inference.find_best as find_best_module
    import autoseg.training.loop as loop

    work = tmp_path / "W"
    shutil.copytree(planned_3d, work, ignore=shutil.ignore_patterns("models", "*.log", "inference.json"))
    plans = json.loads((work / "plans.json").read_text())
    plans["configurations"]["3d_fullres"]["training"]["time_budget_s"] = 600.0
    (work / "plans.json").write_text(json.dumps(plans))

    def stand_in(work, name, fold, *, time_budget=None, validate=True, **_):
        out = work / "models" / name / f"fold_{fold}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "history.json").write_text(json.dumps([{"epoch": 0, "elapsed_s": time_budget, "pseudo_dice": 0.5}]))
        (out / "checkpoint_final.pt").write_bytes(b"")
        (out / "validation").mkdir(exist_ok=True)
        (out / "training_summary.json").write_text(json.dumps({"validation_dice": 0.5}))

    monkeypatch.setattr(loop, "train", stand_in)
    monkeypatch.setattr(find_best_module, "find_best", lambda work, names, progress=True: {"configurations": names})
    state = schedule(work, "1h", configurations=["3d_fullres"], workers=0, progress=False, executor=ThreeWorkers())
    policy = state["policy"]
    assert policy["workers"] == 3 and len(policy["folds"]) == 5
    assert all(f["target"] == pytest.approx(policy["remaining"] / 2, abs=1) for f in policy["folds"])
    assert policy["remaining"] == pytest.approx(3600 * 0.9, abs=5)


def test_a_schedule_plans_for_its_share_of_the_cluster(capsys):
    from autoseg.cli import main
    from autoseg.execution.ray_executor import RayExecutor

    executor = RayExecutor.__new__(RayExecutor)  # no Ray: only the counting
    executor.training_resources, executor.trainings_at_once = {"num_cpus": 2.0}, None
    executor.nodes = lambda: [{"cpus": 8, "gpus": 0}, {"cpus": 4, "gpus": 0}]
    assert executor.workers() == 6
    executor.trainings_at_once = 2
    assert executor.workers() == 2
    assert main(["train", "WORK", "--total-budget", "1h", "--trainings-at-once", "2"]) == 2
    assert "only apply with --ray" in capsys.readouterr().err


def test_the_report_says_where_each_stage_ran_only_when_it_ran_on_a_cluster():
    from autoseg.benchmark.report_content import _stage_blocks

    stage = {"name": "verify", "seconds": 1.0, "peak_ram_mb": 50.0, "returncode": 0, "log": "logs/a/verify.log"}
    local = _stage_blocks({"stages": [stage]})[1]
    assert local[1] == ["stage", "wall time", "peak RAM", "result", "log"] and len(local[2][0]) == 5
    placed = dict(stage, ran_on={"node_id": "0123456789abcdef", "host": "gpu7", "retries": 1})
    table = _stage_blocks({"stages": [placed, stage]})[1]
    assert table[1][-1] == "ran on" and table[2][0][-1] == "0123456789ab (gpu7), 1 retries" and table[2][1][-1] == ""
