"""MLflow tracking (issue 31): a training, a schedule and a search with --mlflow, read back from the SQLite store
in WORK with MlflowClient: runs, params, per-epoch metrics (step = epoch), artifacts and nesting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autoseg.cli import main
from tests.conftest import shrink_epochs

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient

PARENT = "mlflow.parentRunId"


def _work(planned: Path, folder: Path) -> Path:
    shutil.copytree(
        planned,
        folder,
        ignore=shutil.ignore_patterns("models", "schedule.log", "inference.json", "mlflow.db", "mlruns", "search"),
    )
    shrink_epochs(folder, iterations=3, val_iterations=1)  # what is tested is the record, not the learning
    plans = json.loads((folder / "plans.json").read_text())
    for cfg in plans["configurations"].values():
        cfg["training"]["precision"] = "fp32"  # no timing of bf16 at every start
    (folder / "plans.json").write_text(json.dumps(plans))
    return folder


def _client(work: Path) -> MlflowClient:
    assert (work / "mlflow.db").is_file(), "without a URI the store is WORK/mlflow.db"
    return MlflowClient(tracking_uri=f"sqlite:///{(work / 'mlflow.db').resolve()}")


def _runs(client: MlflowClient, experiment: str):
    found = client.get_experiment_by_name(experiment)
    assert found is not None, [e.name for e in client.search_experiments()]
    return client.search_runs([found.experiment_id], max_results=1000)


def _artifacts(client: MlflowClient, run_id: str) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id)}


def _steps(client: MlflowClient, run_id: str, metric: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, metric))


@pytest.mark.slow
def test_training_of_two_folds_is_two_runs_with_params_epochs_and_artifacts(planned_3d, tmp_path, capsys):
    work = _work(planned_3d, tmp_path / "W")
    assert (
        main(
            [
                "train",
                str(work),
                "-c",
                "3d_fullres",
                "-f",
                "0",
                "1",
                "--epochs",
                "2",
                "--workers",
                "0",
                "--no-validation",
                "--mlflow",
            ]
        )
        == 0
    )
    client = _client(work)
    dataset = json.loads((work / "plans.json").read_text())["dataset_name"]
    runs = {r.info.run_name: r for r in _runs(client, dataset)}
    assert set(runs) == {"3d_fullres fold 0", "3d_fullres fold 1"}
    for run in runs.values():
        assert run.info.status == "FINISHED" and PARENT not in run.data.tags
        params = run.data.params
        plans = json.loads((work / "plans.json").read_text())["configurations"]["3d_fullres"]
        assert params["patch_size"] == json.dumps(plans["patch_size"])
        assert params["batch_size"] == str(plans["batch_size"])
        assert params["network.architecture"] == plans["network"]["architecture"]
        assert params["training.precision"] == plans["training"]["precision"]
        assert params["job.epochs"] == "2" and params["job.configuration"] == "3d_fullres"
        for metric in ("train_loss", "val_loss", "pseudo_dice", "pseudo_dice_ema", "lr", "iterations_per_s"):
            assert _steps(client, run.info.run_id, metric) == [0, 1], metric
        assert "pseudo_dice/organ" in run.data.metrics and "pseudo_dice/lesion" in run.data.metrics
        assert run.data.metrics["epochs"] == 2
        assert {"curves.png", "training_summary.json", "train.log", "plan.log"} <= _artifacts(client, run.info.run_id)
        artifact_root = Path(run.info.artifact_uri.removeprefix("file://"))
        assert artifact_root.is_relative_to(work / "mlruns")  # next to the store, not in the current folder


def test_bad_store_is_one_line_and_companions_need_mlflow(planned_3d, tmp_path, capsys):
    work = _work(planned_3d, tmp_path / "W")
    assert main(["train", str(work), "-c", "3d_fullres", "--epochs", "1", "--mlflow", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot use the MLflow tracking store http://127.0.0.1:9" in err
    assert main(["train", str(work), "-c", "3d_fullres", "--epochs", "1", "--mlflow-experiment", "x"]) == 2
    assert "only apply with --mlflow" in capsys.readouterr().err
    assert not (work / "models").exists()


def test_mlflow_without_uri_may_stand_before_the_positional_arguments():
    from autoseg.cli import build_parser
    from autoseg.tracking.options import bare_mlflow_flags

    def parse(*argv: str):
        return build_parser().parse_args(bare_mlflow_flags(list(argv)))

    bare = parse("train", "--mlflow", "work", "-c", "2d")
    assert bare.mlflow == "" and bare.work == "work"  # the default store in WORK, and WORK is the positional
    assert parse("train", "work", "--mlflow").mlflow == ""
    assert parse("train", "work", "--mlflow", "-c", "2d").mlflow == ""
    for store in ("http://host:5000", "postgresql://u@h/db", "sqlite:///x/mlflow.db", "runs/mlflow.db", "databricks"):
        assert parse("train", "--mlflow", store, "work").mlflow == store


def test_without_mlflow_the_flag_says_how_to_install_it(planned_3d, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    work = _work(planned_3d, tmp_path / "W")
    assert main(["train", str(work), "-c", "3d_fullres", "--epochs", "1", "--mlflow"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "autoseg[mlflow]"' in err


@pytest.mark.slow
def test_a_store_that_fails_mid_training_warns_once_and_the_training_finishes(
    planned_3d, tmp_path, caplog, monkeypatch
):
    from autoseg.tracking.store import open_tracking
    from autoseg.tracking.training import tracked_training
    from autoseg.training.job import TrainingJob
    from autoseg.training.launch import run_job

    work = _work(planned_3d, tmp_path / "W")
    context = open_tracking(None, work, "broken")
    job = TrainingJob(str(work), "3d_fullres", "0", epochs=2, validate=False, progress=False, workers=0)

    def unreachable(*args, **kwargs):
        raise ConnectionError("the tracking server went away")

    with caplog.at_level("WARNING", logger="autoseg.tracking"), tracked_training(context, job) as on_epoch:

        def then_the_store_fails(record):
            on_epoch(record)
            monkeypatch.setattr(MlflowClient, "log_batch", unreachable)  # after epoch 0 is logged
            monkeypatch.setattr(MlflowClient, "log_artifact", unreachable)

        summary = run_job(job, on_epoch=then_the_store_fails)
    assert summary["epochs"] == 2
    assert len([r for r in caplog.records if "MLflow tracking stopped" in r.getMessage()]) == 1
    monkeypatch.undo()
    client = _client(work)
    (run,) = _runs(client, "broken")
    assert _steps(client, run.info.run_id, "train_loss") == [0]
    assert run.info.status == "FAILED"  # the record is incomplete, and says so


@pytest.mark.slow
def test_schedule_is_a_parent_run_with_its_trainings_nested(planned_3d, tmp_path):
    from autoseg.scheduling import schedule
    from autoseg.tracking.store import open_tracking

    work = _work(planned_3d, tmp_path / "W")
    plans = json.loads((work / "plans.json").read_text())
    for cfg in plans["configurations"].values():
        cfg["training"]["epochs"] = 4  # one planned training: 4 epochs
    (work / "plans.json").write_text(json.dumps(plans))
    tracking = open_tracking(None, work, "schedules")
    # 8 epochs, half to explore: 2d and 3d_fullres train 2 epochs each, the winner's fold 0 then 4 more
    state = schedule(
        work,
        total_epochs=8,
        explore_fraction=0.5,
        configurations=["2d", "3d_fullres"],
        workers=0,
        progress=False,
        tracking=tracking,
    )
    client = _client(work)
    runs = _runs(client, "schedules")
    parents = [r for r in runs if PARENT not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "schedule 8 epochs"
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_id == state["mlflow"]["run_id"]
    assert parent.data.tags["winner"] == state["winner"] and "chosen_dice" in parent.data.metrics
    assert parent.data.params["candidates"] == json.dumps(["2d", "3d_fullres"])
    children = {r.info.run_name: r for r in runs if r.data.tags.get(PARENT) == parent.info.run_id}
    winner = state["winner"]
    assert set(children) == {"rung0:2d", "rung0:3d_fullres", f"final:{winner}:fold0"}
    for name, epochs in (("rung0:2d", [0, 1]), ("rung0:3d_fullres", [0, 1]), (f"final:{winner}:fold0", [2, 3, 4, 5])):
        run = children[name]
        assert run.info.status == "FINISHED" and run.data.params["schedule.step"] == name
        assert _steps(client, run.info.run_id, "pseudo_dice") == epochs, name  # each logs the epochs it trained
        assert "curves.png" in _artifacts(client, run.info.run_id)
    assert children[f"final:{winner}:fold0"].data.params["job.extend"] == "True"
    assert "validation_dice" in children[f"final:{winner}:fold0"].data.metrics


@pytest.mark.slow
def test_search_trials_are_runs_of_one_experiment_with_their_values(planned_3d, tmp_path):
    from autoseg.search.run import search
    from autoseg.tracking.store import open_tracking
    from tests.test_search import TINY_SPACE

    work = _work(planned_3d, tmp_path / "W")
    tracking = open_tracking(None, work, "Synthetic tiny")
    # trial 0: the plan's values, trained 2 epochs; trial 1: 128 base features, over the budget and not trained
    search(
        work,
        "3d_fullres",
        trials=2,
        trial_epochs=2,
        study="tiny",
        seed=0,
        workers=0,
        progress=False,
        space={**TINY_SPACE, "base_features": {"choices": [8, 128]}},
        export="",
        enqueue=[{"base_features": 128}],
        tracking=tracking,
    )
    client = _client(work)
    runs = {r.info.run_name: r for r in _runs(client, "Synthetic tiny")}
    assert set(runs) == {"trial 0", "trial 1"}
    trained, skipped = runs["trial 0"], runs["trial 1"]
    assert trained.data.tags["trial_state"] == "COMPLETE" and trained.info.status == "FINISHED"
    assert trained.data.params["trial.base_features"] == "8"
    assert trained.data.params["network.architecture"] == "unet"
    assert 0 <= trained.data.metrics["value"] <= 1
    assert trained.data.metrics["value"] == pytest.approx(trained.data.metrics["validation_dice"])
    assert _steps(client, trained.info.run_id, "train_loss") == [0, 1]
    assert {"curves.png", "training_summary.json", "train.log"} <= _artifacts(client, trained.info.run_id)
    assert skipped.data.tags["trial_state"] == "PRUNED" and "not_trained" in skipped.data.tags
    assert skipped.data.params["trial.base_features"] == "128" and "value" not in skipped.data.metrics
    assert all(PARENT not in r.data.tags for r in runs.values())
