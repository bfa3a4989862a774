"""The search space, a trial's configuration, the device-budget check and the pruning steps (no training)."""

from __future__ import annotations

import json

import optuna
import pytest

from autoseg.errors import AutosegError
from autoseg.networks import build_network, registered_architectures
from autoseg.schema.plans import load_plans
from autoseg.search.budget_check import check_budget
from autoseg.search.pruning import TIME_STEPS, IntermediateReporter, make_pruner
from autoseg.search.space import Choice, Fixed, FloatRange, IntRange, SearchSpace, plan_values
from autoseg.search.trial_config import scaled_patch, total_stride, trial_configuration


@pytest.fixture(scope="module")
def plans(planned_3d):
    return load_plans(planned_3d)


@pytest.fixture(scope="module")
def base(plans):
    return plans.configuration("3d_fullres")


def test_default_space_covers_every_architecture_and_stays_within_the_plans_depth(base):
    space = SearchSpace.for_configuration(base)
    assert space.params["architecture"] == Choice(tuple(registered_architectures()))
    stages = space.params["stages"]
    assert isinstance(stages, IntRange) and stages.high == base.network.num_stages and stages.low >= 2
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        values = space.suggest(study.ask())
        assert set(values) >= {
            "architecture",
            "stages",
            "norm",
            "loss",
            "optimizer",
            "learning_rate",
            "batch_size",
            "patch_scale",
            "deep_supervision",
            "kernel_size",
        }
    # only the chosen optimiser's learning rate is a parameter of a trial
    for trial in study.get_trials():
        assert sum(name.endswith("_learning_rate") for name in trial.params) == 1


def test_user_space_file_narrows_fixes_and_keeps_the_plan(base, tmp_path):
    path = tmp_path / "space.json"
    path.write_text(
        json.dumps(
            {
                "architecture": {"choices": ["unet", "residual_unet"]},
                "blocks_per_stage": {"low": 1, "high": 2},
                "adamw_learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                "norm": "batch",
                "stages": "plan",
                "patch_scale": {"low": 0.5, "high": 1.0},
            }
        )
    )
    space = SearchSpace.for_configuration(base, path)
    assert space.params["architecture"] == Choice(("unet", "residual_unet"))
    assert space.params["blocks_per_stage"] == IntRange(1, 2)
    assert space.params["adamw_learning_rate"] == FloatRange(1e-4, 1e-2, log=True)
    assert space.params["norm"] == Fixed("batch")
    assert space.params["stages"] == Fixed(base.network.num_stages)
    assert space.params["patch_scale"] == FloatRange(0.5, 1.0)
    # the written form reads back to the same space
    again = SearchSpace.for_configuration(base, space.to_dict())
    assert again.params == space.params


@pytest.mark.parametrize(
    "content, message",
    [
        ({"depth": {"choices": [2, 3]}}, "unknown search parameter"),
        ({"architecture": {"choices": ["unet", "transformer"]}}, "not one of"),
        ({"stages": {"low": 2, "high": 99}}, "an integer from 2"),
        ({"kernel_size": {"low": 3, "high": 5}}, "odd"),
        ({"adamw_learning_rate": {"low": 0, "high": 1e-2, "log": True}}, "log range"),
        ({"norm": {"choices": []}}, "non-empty"),
        ({"loss": {"between": 1}}, "cannot read"),
    ],
)
def test_bad_space_files_name_the_parameter_and_the_fix(base, tmp_path, content, message):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(content))
    with pytest.raises(AutosegError, match=message) as info:
        SearchSpace.for_configuration(base, path)
    assert info.value.fix and str(path) in str(info.value)


def test_plan_values_are_a_point_of_the_default_space(base):
    space = SearchSpace.for_configuration(base)
    point = space.searchable_point(plan_values(base))
    for name in ("architecture", "stages", "base_features", "norm", "loss", "optimizer", "batch_size"):
        assert name in point
    assert f"{base.training.optimizer}_learning_rate" in point


def _values(base, **changes):
    values = {**plan_values(base), "learning_rate": base.training.learning_rate}
    values.update(changes)
    return values


def test_plan_values_rebuild_the_base_configuration(base):
    config = trial_configuration(base, _values(base), "same")
    assert config.network == base.network
    assert (config.patch_size, config.batch_size) == (base.patch_size, base.batch_size)
    assert config.training == base.training
    assert config.data_identifier == base.data_identifier


def test_trial_configuration_changes_network_patch_and_training_consistently(base):
    stages = base.network.num_stages - 1
    config = trial_configuration(
        base,
        _values(
            base,
            architecture="residual_unet",
            stages=stages,
            base_features=16,
            kernel_size=5,
            blocks_per_stage=1,
            norm="group",
            deep_supervision=False,
            optimizer="sgd",
            learning_rate=0.02,
            loss="tversky",
            batch_size=4,
            patch_scale=0.75,
        ),
        "t",
    )
    net = config.network
    assert net.num_stages == stages and net.features[0] == 16 and net.blocks_per_stage == [1] * stages
    assert net.strides == base.network.strides[:stages]
    # axes the plan does not convolve (kernel 1, across thick slices) stay 1
    for planned, new in zip(base.network.kernel_sizes, net.kernel_sizes):
        assert [1 if k == 1 else 5 for k in planned] == new
    stride = total_stride(net.strides)
    assert all(p % s == 0 for p, s in zip(config.patch_size, stride))
    assert config.training.optimizer == "sgd" and config.training.learning_rate == 0.02
    assert config.training.loss == "tversky" and config.batch_size == 4 and not net.deep_supervision
    if config.training.progressive_patch_size:
        assert all(p % s == 0 for p, s in zip(config.training.progressive_patch_size, stride))
    build_network(net)  # it builds


def test_scaled_patch_rounds_to_the_stride_and_stays_within_the_image():
    assert scaled_patch([32, 64], 1.0, [4, 8], [30, 60]) == [32, 64]
    assert scaled_patch([32, 64], 0.5, [4, 8], [30, 60]) == [16, 32]
    # never beyond the median image rounded up to the stride
    assert scaled_patch([32, 64], 2.0, [4, 8], [40, 60]) == [40, 64]
    # never below a bottleneck of 4 voxels
    assert scaled_patch([32, 64], 0.1, [4, 8], [30, 60]) == [16, 32]


def test_budget_check_refuses_a_network_too_slow_for_the_cpu_budget(plans, base):
    fits = check_budget(base, base, plans.device, plans.preset)
    assert fits.fits and fits.expected_iterations > 0 and "iterations" in fits.reason
    big = trial_configuration(base, _values(base, base_features=64, blocks_per_stage=3, kernel_size=5), "big")
    slow_cpu = {**plans.device, "flops_per_s": {"3d": 1e9}}
    check = check_budget(big, base, slow_cpu, plans.preset)
    assert not check.fits and "fewer than" in check.reason


def test_budget_check_never_reads_a_preset_path_named_by_plans(plans, base, tmp_path, monkeypatch):
    import autoseg.search.budget_check as budget_check

    planted = tmp_path / "planted.json"  # a plans.json from elsewhere naming a file as its preset
    planted.write_text(json.dumps({"extends": "default", "cpu": {"min_iterations_3d": 1}}))
    read = []
    monkeypatch.setattr(budget_check, "load_preset", lambda name: read.append(name))
    assert budget_check._min_iterations(str(planted), 3) is None and read == []
    check_budget(base, base, plans.device, str(planted))  # the planner's own network is the yardstick instead
    assert read == []


def test_budget_check_on_a_gpu_compares_memory(plans, base):
    gpu = {"kind": "cuda", "memory_bytes": 64 * 2**20}
    big = trial_configuration(base, _values(base, base_features=64, batch_size=8), "big")
    assert not check_budget(big, base, gpu, plans.preset).fits
    assert check_budget(base, base, {"kind": "cuda", "memory_bytes": 64 * 2**30}, plans.preset).fits


class _Trial:
    def __init__(self):
        self.reported: dict[int, float] = {}
        self.attrs = {}

    def report(self, value, step):
        self.reported[step] = value

    def should_prune(self):
        return False

    def set_user_attr(self, key, value):
        self.attrs[key] = value


def test_time_budget_steps_are_fractions_of_the_budget_whatever_the_epoch_length():
    now = [0.0]
    trial = _Trial()
    reporter = IntermediateReporter(trial, seconds=100.0, clock=lambda: now[0])
    now[0] = 20.0  # the first epoch (compiling): the steps count the 80 s after it
    reporter(0, 0.05)
    assert trial.reported == {}
    now[0] = 22.0  # shorter than a step (4 s): nothing yet
    reporter(1, 0.1)
    assert trial.reported == {}
    now[0] = 33.0  # three steps passed at once: all get the current value
    reporter(2, 0.2)
    assert trial.reported == {1: 0.2, 2: 0.2, 3: 0.2}
    now[0] = 130.0  # overran the budget: capped at the last step
    reporter(3, 0.3)
    assert max(trial.reported) == TIME_STEPS and trial.reported[TIME_STEPS] == 0.3


def test_epoch_budget_steps_are_epochs_and_unknown_pruners_are_refused():
    trial = _Trial()
    reporter = IntermediateReporter(trial, epochs=3)
    reporter(1, 0.5)
    reporter(2, None)  # no validation value this epoch
    reporter(3, 0.7)
    assert trial.reported == {1: 0.5, 2: 0.7, 3: 0.7}
    for name in ("median", "halving", "hyperband", "none"):
        assert isinstance(make_pruner(name, 20), optuna.pruners.BasePruner)
    with pytest.raises(AutosegError, match="unknown pruner"):
        make_pruner("asha", 20)
