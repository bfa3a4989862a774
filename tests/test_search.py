"""autoseg search: trials are pruned, failures and over-budget trials are recorded without ending the study, the
best trial is exported into plans.json without touching the other configurations, and the export trains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.layout.work import model_dir
from autoseg.schema.plans import load_plans
from autoseg.search import objective
from autoseg.search.run import search
from autoseg.search.storage import default_storage_url
from autoseg.training.loop import train
from tests.conftest import shrink_epochs

pytestmark = pytest.mark.slow  # every test runs a study of trainings

# Everything but the learning rate fixed to small, fast values: trials differ only where the test needs them to.
TINY_SPACE = {
    "architecture": "unet",
    "stages": "plan",
    "base_features": 8,
    "blocks_per_stage": 1,
    "decoder_blocks": 1,
    "norm": "instance",
    "kernel_size": 3,
    "deep_supervision": True,
    "loss": "dice_ce",
    "optimizer": "adamw",
    "batch_size": 2,
    "patch_scale": 1.0,
    "adamw_learning_rate": {"low": 1e-9, "high": 1e-2, "log": True},
}


def search_work(planned: Path, folder: Path) -> Path:
    """A WORK of its own (plans.json is written by the export) sharing the session's preprocessed cache."""
    folder.mkdir(parents=True)
    for name in ("plans.json", "splits.json", "fingerprint.json"):
        shutil.copy(planned / name, folder / name)
    (folder / "preprocessed").symlink_to((planned / "preprocessed").resolve())
    return folder


def _study(work: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage_url(work, name))


def fake_train(dice_for):
    """A stand-in for training: reports a rising pseudo-Dice per epoch and returns `dice_for(config)`."""

    def run(work, name, fold, *, plans, time_budget, epochs, report_epoch, **kwargs):
        config = plans.configuration(name)
        out = model_dir(work, name, fold)
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoint_final.pt").write_bytes(b"weights")
        (out / "history.json").write_text("[]")
        dice = dice_for(config)
        for epoch in range(1, (epochs or 3) + 1):
            report_epoch(epoch, dice * epoch / (epochs or 3))
        return {
            "validation_dice": dice,
            "validation_dice_per_class": {"organ": dice},
            "iterations": 10,
            "training_seconds": 1.0,
            "epochs": epochs,
        }

    return run


def test_failed_and_over_budget_trials_are_recorded_and_the_study_goes_on(planned_3d, tmp_path, monkeypatch):
    work = search_work(planned_3d, tmp_path / "W")

    def dice_for(config):
        if config.training.learning_rate > 5e-3:
            raise RuntimeError("diverged: loss is NaN")
        return 0.5

    monkeypatch.setattr(objective.loop, "train", fake_train(dice_for))
    result = search(
        work,
        "3d_fullres",
        trials=4,
        trial_epochs=2,
        study="s1",
        seed=0,
        progress=False,
        space={**TINY_SPACE, "base_features": {"choices": [8, 128]}},
        enqueue=[
            {"adamw_learning_rate": 0.009, "base_features": 8},
            {"adamw_learning_rate": 0.001, "base_features": 128},
        ],
    )
    trials = {t.number: t for t in _study(work, "s1").get_trials()}
    assert trials[0].state == optuna.trial.TrialState.COMPLETE  # the plan's own values come first
    assert trials[1].state == optuna.trial.TrialState.FAIL
    assert "diverged" in trials[1].user_attrs["error"]
    assert trials[2].state == optuna.trial.TrialState.PRUNED
    assert "fewer than" in trials[2].user_attrs["not_trained"]
    assert len(trials) == result["trials"] == 4
    report = (work / "search/s1/report.md").read_text()
    assert "diverged" in report and "not trained" in report and "Needs at least 3 completed" in report
    assert (work / "search/s1/history.png").stat().st_size > 1000
    # trial folders leave WORK/models, without checkpoints
    assert not list((work / "models").glob("s1_trial*"))
    archived = work / "search/s1/trials/s1_trial0/fold_0"
    assert (archived / "history.json").is_file() and not list(archived.glob("*.pt"))


def test_export_adds_only_its_configuration_and_refuses_to_clobber(planned_3d, tmp_path, monkeypatch):
    work = search_work(planned_3d, tmp_path / "W")
    monkeypatch.setattr(objective.loop, "train", fake_train(lambda c: 0.3 + c.training.learning_rate))
    before = load_plans(work)
    search(work, "3d_fullres", trials=3, trial_epochs=2, study="s2", seed=0, space=TINY_SPACE, progress=False)
    after = load_plans(work)
    assert set(after.configurations) == set(before.configurations) | {"3d_fullres_search"}
    for name, config in before.configurations.items():
        assert after.configurations[name] == config
    exported = after.configurations["3d_fullres_search"]
    best = max(_study(work, "s2").get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.value)
    assert exported.training.learning_rate == pytest.approx(best.params["adamw_learning_rate"])
    assert exported.data_identifier == before.configurations["3d_fullres"].data_identifier
    assert exported.reasons[0].startswith("autoseg search: study 's2' trial")
    with pytest.raises(AutosegError, match="not written by a search"):
        search(work, "3d_fullres", trials=0, study="s2", export="2d", progress=False)
    # A second study whose best differs may not replace an export that has trained folds.
    (model_dir(work, "3d_fullres_search", 0)).mkdir(parents=True)
    (model_dir(work, "3d_fullres_search", 0) / "checkpoint_final.pt").write_bytes(b"")
    monkeypatch.setattr(objective.loop, "train", fake_train(lambda c: 0.9))
    with pytest.raises(AutosegError, match="has trained folds"):
        search(
            work, "3d_fullres", trials=1, trial_epochs=2, study="s3", space=TINY_SPACE, progress=False, baseline=False
        )
    assert search(work, "3d_fullres", trials=0, study="s3", overwrite=True, progress=False)["exported"]["changed"]


def test_a_study_keeps_its_configuration_and_user_errors_are_one_line(planned_3d, tmp_path, monkeypatch, capsys):
    work = search_work(planned_3d, tmp_path / "W")
    monkeypatch.setattr(objective.loop, "train", fake_train(lambda c: 0.5))
    search(work, "3d_fullres", trials=1, trial_epochs=1, study="s4", space=TINY_SPACE, progress=False)
    with pytest.raises(AutosegError, match="searches configuration '3d_fullres'"):
        search(work, "2d", trials=1, trial_epochs=1, study="s4", progress=False)
    with pytest.raises(AutosegError, match="needs an end"):
        search(work, "3d_fullres", study="s4")
    with pytest.raises(AutosegError, match="shorter than one trial"):
        search(work, "3d_fullres", time_budget="1m", trial_budget="5m", study="s4")
    with pytest.raises(AutosegError, match="validation cases"):
        search(work, "3d_fullres", trials=1, fold="all", study="s4")
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"norm": {"choices": ["layer"]}}))
    assert main(["search", str(work), "-c", "3d_fullres", "--trials", "1", "--space", str(space)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "space.json" in error and "norm" in error


@pytest.mark.slow
def test_tiny_search_prunes_exports_and_the_export_trains(planned_3d, tmp_path):
    work = search_work(planned_3d, tmp_path / "W")
    shrink_epochs(work, iterations=5, val_iterations=1)
    # Trial 0 is the plan's own values, trial 1 another good rate; trial 2 cannot learn (AdamW moves every
    # weight by ~lr per step) and is behind both at the first step after the median pruner's warm-up.
    result = search(
        work,
        "3d_fullres",
        trials=3,
        trial_epochs=5,
        study="tiny",
        seed=0,
        space=TINY_SPACE,
        enqueue=[{"adamw_learning_rate": 0.004}, {"adamw_learning_rate": 1e-9}],
        workers=0,
        progress=False,
    )
    trials = _study(work, "tiny").get_trials()
    states = [t.state for t in trials]
    assert states[:2] == [optuna.trial.TrialState.COMPLETE] * 2
    assert trials[0].user_attrs["validation_tta"] is False, "trials validate without test-time mirroring"
    assert states[2] == optuna.trial.TrialState.PRUNED and "pruned at step" in trials[2].user_attrs["state_reason"]
    assert len(trials[2].intermediate_values) < 5
    assert result["exported"]["name"] == "3d_fullres_search"
    assert result["best"]["value"] == max(t.value for t in trials[:2])
    summary = train(work, "3d_fullres_search", 0, epochs=1, workers=0, progress=False, validate=False)
    assert summary["iterations"] == 5
    assert (work / "models/3d_fullres_search/fold_0/checkpoint_final.pt").is_file()
    assert sorted(p.name for p in (work / "models").iterdir()) == ["3d_fullres_search"]


def test_a_new_study_tries_every_architecture_of_the_space_once_after_the_plan(planned_3d, tmp_path, monkeypatch):
    work = search_work(planned_3d, tmp_path / "W")
    monkeypatch.setattr(objective.loop, "train", fake_train(lambda c: 0.5))
    architectures = ["unet", "residual_unet", "dense_unet"]
    space = {**TINY_SPACE, "architecture": {"choices": architectures}}
    search(
        work,
        "3d_fullres",
        trials=4,
        trial_epochs=1,
        study="sweep",
        space=space,
        progress=False,
        enqueue=[{"adamw_learning_rate": 0.004, "architecture": "unet"}],
    )
    trials = _study(work, "sweep").get_trials()
    planned = load_plans(work).configuration("3d_fullres")
    # The plan, the caller's own request, then each other architecture at the plan's learning rate.
    assert [t.params["architecture"] for t in trials[:4]] == ["unet", "unet", "residual_unet", "dense_unet"]
    assert trials[1].params["adamw_learning_rate"] == pytest.approx(0.004)
    for t in (trials[0], trials[2], trials[3]):
        assert t.params["adamw_learning_rate"] == pytest.approx(planned.training.learning_rate)
    search(
        work,
        "3d_fullres",
        trials=1,
        trial_epochs=1,
        study="nosweep",
        space=space,
        progress=False,
        architecture_sweep=False,
        baseline=False,
        seed=0,
    )
    assert len(_study(work, "nosweep").get_trials()) == 1
