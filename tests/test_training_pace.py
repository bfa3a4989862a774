"""A time-budgeted run that trains well short of its plan's iterations (a slower machine than the plan was sized
for) says so in train.log and training_summary.json, naming both machines and the fixes."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from autoseg.training.budget import Budget
from autoseg.training.pace import SHORT_FRACTION, planned_pace, short_run_warning


def _tplan(time_budget_s=3600.0, expected_iterations=10_000):
    return SimpleNamespace(time_budget_s=time_budget_s, expected_iterations=expected_iterations)


def test_the_plans_expectation_scales_to_the_budget_the_run_trained():
    pace = planned_pace(_tplan(), Budget(seconds=1800.0, epochs=None), 4_000, ended_by_epoch_cap=False)
    assert pace.expected_iterations == 5_000 and pace.trained_fraction == pytest.approx(0.8)
    assert not pace.short and pace.record() == {"planned_iterations": 5_000, "planned_fraction": 0.8}
    slow = planned_pace(_tplan(), Budget(seconds=3600.0, epochs=None), 3_000, ended_by_epoch_cap=False)
    assert slow.short and slow.trained_fraction < SHORT_FRACTION


@pytest.mark.parametrize(
    "tplan, budget, capped",
    [
        (_tplan(), Budget(seconds=None, epochs=50), False),  # an epoch budget: nothing was expected of the time
        (_tplan(expected_iterations=None), Budget(seconds=3600.0, epochs=None), False),  # no estimate
        (_tplan(time_budget_s=None), Budget(seconds=3600.0, epochs=None), False),  # a plan sized to GPU memory
        (_tplan(), Budget(seconds=3600.0, epochs=20), True),  # the plan's cap ended it: it trained all it should
    ],
)
def test_nothing_is_compared_where_the_plan_expected_nothing_of_the_time(tplan, budget, capped):
    assert planned_pace(tplan, budget, 10, ended_by_epoch_cap=capped) is None


def test_the_warning_names_both_machines_and_the_epochs_that_train_the_planned_amount():
    pace = planned_pace(_tplan(), Budget(seconds=3600.0, epochs=None), 4_000, ended_by_epoch_cap=False)
    words = short_run_warning(pace, 80, 4_000, "AMD EPYC, family 25 model 17", "AMD EPYC, family 25 model 1")
    assert "~10,000" in words and "(40%)" in words and "--epochs 200" in words
    assert "'AMD EPYC, family 25 model 17'" in words and "'AMD EPYC, family 25 model 1'" in words
    same = short_run_warning(pace, 80, 4_000, "Intel Xeon", "Intel Xeon", planned_gflops=500.0)
    assert "trains slower than the plan assumed at ~500 GFLOP/s" in same


@pytest.mark.slow
def test_a_run_short_of_its_plan_warns_in_train_log_and_records_its_share(planned_3d, tmp_path):
    from autoseg.training.loop import train

    work = tmp_path / "W"
    shutil.copytree(planned_3d, work, ignore=shutil.ignore_patterns("models"))
    plans = json.loads((work / "plans.json").read_text())
    training = plans["configurations"]["3d_fullres"]["training"]
    # A plan that expects a million iterations in two seconds: no machine keeps up, as a slow one would not.
    training.update(time_budget_s=2.0, expected_iterations=1_000_000, max_epochs=None)
    (work / "plans.json").write_text(json.dumps(plans))
    summary = train(work, "3d_fullres", 0, time_budget="2s", progress=False, validate=False)
    assert summary["planned_iterations"] == 1_000_000 and summary["planned_fraction"] < SHORT_FRACTION
    log = (work / "models/3d_fullres/fold_0/train.log").read_text()
    assert "where the plan expected ~1,000,000" in log and "--epochs" in log
    # The same run on a plan it keeps up with records its share and does not warn.
    training.update(expected_iterations=1)
    (work / "plans.json").write_text(json.dumps(plans))
    summary = train(work, "3d_fullres", 1, time_budget="2s", progress=False, validate=False)
    assert summary["planned_iterations"] == 1 and summary["planned_fraction"] >= 1
    assert "where the plan expected" not in (work / "models/3d_fullres/fold_1/train.log").read_text()
