"""Trainings on a real 2-node Ray cluster (tests/ray_cluster.py): folds side by side on different nodes, a
schedule whose record names the nodes, and a node removed under a training that then resumes elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.ray_cluster import add_worker, cli, start_cluster, stop_cluster, tiny_work

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tiny_work(tmp_path_factory.mktemp("ray"))[1]


def _summary(work, fold, name="3d_fullres"):
    return json.loads((work / "models" / name / f"fold_{fold}" / "training_summary.json").read_text())


def test_folds_train_side_by_side_on_two_nodes(cluster, work):
    result = cli(
        "train",
        work,
        "-c",
        "3d_fullres",
        "-f",
        "0",
        "1",
        "--epochs",
        "1",
        "--workers",
        "0",
        "--no-validation",
        "--ray",
        cluster.address,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ran_on = [_summary(work, fold)["ran_on"] for fold in (0, 1)]
    assert all(r["retries"] == 0 and r["host"] for r in ran_on)
    assert ran_on[0]["node_id"] != ran_on[1]["node_id"], "the two folds ran on the same node"
    worker_nodes = {n.node_id for n in cluster.worker_nodes}
    assert {r["node_id"] for r in ran_on} == worker_nodes


def test_schedule_on_the_cluster_names_the_nodes(cluster, work, tmp_path):
    import shutil

    from autoseg.execution.options import open_executor
    from autoseg.scheduling import schedule

    own = tmp_path / "W"
    shutil.copytree(work, own, ignore=shutil.ignore_patterns("models", ".*"))
    plans = json.loads((own / "plans.json").read_text())
    plans["configurations"]["3d_fullres"]["training"]["epochs"] = 1  # the policy's unit: 2 epochs buy 2 folds
    (own / "plans.json").write_text(json.dumps(plans))
    with open_executor(cluster.address) as executor:
        state = schedule(own, total_epochs=2, workers=0, progress=False, executor=executor)
    assert state["status"] == "finished" and state["find_best"]
    trained = [s for s in state["steps"] if s.get("call") is not None]
    assert len(trained) >= 2
    worker_nodes = {n.node_id for n in cluster.worker_nodes}
    for step in trained:
        assert step["status"] == "done" and step["ran_on"]["node_id"] in worker_nodes
        assert step["ran_on"]["started"] and step["ran_on"]["ended"] and step["ran_on"]["retries"] == 0
    on_disk = json.loads((own / "schedule.json").read_text())
    assert [s["ran_on"]["node_id"] for s in on_disk["steps"] if s.get("call") is not None] == [
        s["ran_on"]["node_id"] for s in trained
    ]
    assert _summary(own, trained[0]["fold"])["ran_on"]["node_id"] == trained[0]["ran_on"]["node_id"]


def test_bad_job_fails_once_with_its_own_error(cluster, work):
    result = cli("train", work, "-c", "3d_nonexistent", "-f", "0", "--epochs", "1", "--ray", cluster.address)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("autoseg train: error:")


def test_search_refuses_sqlite_on_a_cluster_of_two_nodes(cluster, work):
    from autoseg.errors import AutosegError
    from autoseg.execution.options import open_executor
    from autoseg.search.cluster import search_on_cluster

    with open_executor(cluster.address) as executor, pytest.raises(AutosegError, match="SQLite.*postgresql"):
        search_on_cluster(executor, 2, work, "3d_fullres", trials=2, trial_epochs=1)
    assert not list((work / "search").glob("*.db"))  # refused before the study was made


def test_predict_on_the_cluster_gives_the_local_label_maps(cluster, work, tmp_path):
    """After the folds test (folds 0 and 1 trained): the 2 test images over 2 shards, one report."""
    import numpy as np

    from autoseg.data.image_io import read_label
    from autoseg.inference.run import predict

    images = work.parent / "Tiny" / "imagesTs"
    predict(work, [images], tmp_path / "local", tta=False, progress=False)
    result = cli("predict", work, "-i", images, "-o", tmp_path / "ray", "--no-tta", "--ray", cluster.address)
    assert result.returncode == 0, result.stderr[-2000:]
    local = sorted(p.name for p in (tmp_path / "local").glob("*.nii.gz"))
    assert local and sorted(p.name for p in (tmp_path / "ray").glob("*.nii.gz")) == local
    for name in local:
        assert np.array_equal(read_label(tmp_path / "local" / name)[0], read_label(tmp_path / "ray" / name)[0])
    report = json.loads((tmp_path / "ray" / "prediction_report.json").read_text())
    assert sorted(report["cases"]) == sorted(n.removesuffix(".nii.gz") for n in local)
    assert len(report["shards"]) == 2 and len({s["node_id"] for s in report["shards"]}) == 2
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".shards-")]


def test_benchmark_runs_datasets_and_their_stages_side_by_side(cluster, tmp_path):
    """Each dataset a driver task; its training stages (2 folds each) jobs of their own on either node."""
    from autoseg.data.synthetic import make_synthetic_dataset

    datasets = [
        make_synthetic_dataset(
            tmp_path / name, num_cases=6, num_test=2, shape=(10, 32, 32), spacing=(3.0, 0.9, 0.9), seed=seed, name=name
        )
        for name, seed in (("DataA", 1), ("DataB", 2))
    ]
    result = cli(
        "benchmark",
        *datasets,
        "-o",
        tmp_path / "R",
        "--configurations",
        "3d_fullres",
        "--preset",
        "cpu-fast",
        "--epochs",
        "1",
        "--cpu-gflops",
        "40",
        "--cv-folds",
        "2",
        "--folds",
        "0",
        "1",
        "--ray",
        cluster.address,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "R" / "report.json").read_text())
    assert [r["dataset"] for r in report["datasets"]] == ["DataA", "DataB"]
    assert all(r["status"] == "ok" for r in report["datasets"]), [r["error"] for r in report["datasets"]]
    a, b = (r["ran_on"] for r in report["datasets"])  # the drivers, side by side
    assert a["started"] <= b["ended"] and b["started"] <= a["ended"]
    # Drivers stay on the node of the process that started the job (here the head), never on a worker that
    # may die alone: a retried driver would start its dataset over.
    assert a["node_id"] == b["node_id"] == cluster.head_node.node_id
    worker_nodes = {n.node_id for n in cluster.worker_nodes}
    spread = []
    for record in report["datasets"]:
        stages = {s["name"]: s for s in record["stages"]}
        assert list(stages)[:4] == ["verify", "plan", "train 3d_fullres fold 0", "train 3d_fullres fold 1"]
        assert all(s["returncode"] == 0 and s["ran_on"]["node_id"] in worker_nodes for s in stages.values())
        trainings = [stages[f"train 3d_fullres fold {f}"]["ran_on"] for f in (0, 1)]
        assert all(t["started"] >= stages["plan"]["ran_on"]["ended"] and t["retries"] == 0 for t in trainings)
        assert stages["find-best"]["ran_on"]["started"] >= max(t["ended"] for t in trainings)
        assert (tmp_path / "R" / stages["train 3d_fullres fold 0"]["log"]).is_file()
        spread.append({s["ran_on"]["node_id"] for s in stages.values()})
    # Which node a stage lands on is Ray's choice: one dataset's stages may all share a node while the other
    # dataset's run on the second one. What must hold is that the stages, as jobs of their own, used both.
    assert set().union(*spread) == worker_nodes, "the stages of both datasets ran on one node"
    markdown = (tmp_path / "R" / "report.md").read_text()
    assert all(node[:12] in markdown for node in set().union(*spread))  # the stage table names the nodes


def test_a_command_started_inside_the_cluster_joins_it(cluster, work):
    """What a benchmark's schedule stage is given (cluster_arguments): the cluster's own address, which a new
    driver process reaches, and its share of the workers."""
    from autoseg.execution.options import open_executor

    with open_executor(cluster.address, trainings_at_once=1) as executor:
        arguments = executor.cluster_arguments()
        assert executor.workers() == 1 and arguments[arguments.index("--trainings-at-once") + 1] == "1"
    result = cli("train", work, "-c", "3d_nonexistent", "-f", "0", "--epochs", "1", *arguments)
    assert result.returncode == 2 and "cannot connect" not in result.stderr
    assert "3d_nonexistent" in result.stderr.strip().splitlines()[-1]  # connected, then the job's own error


def test_removed_node_training_resumes_elsewhere_from_its_checkpoint(cluster, work):
    """Last in this file: it removes a node (and adds a fresh one back)."""
    fold = work / "models" / "3d_fullres" / "fold_all"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autoseg.cli",
            "train",
            str(work),
            "-c",
            "3d_fullres",
            "-f",
            "all",
            "--epochs",
            "4",
            "--workers",
            "0",
            "--no-validation",
            "--ray",
            cluster.address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    attempts = fold.parent / ".fold_all.attempts.json"
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None:  # at least one epoch's checkpoint, not the last
        history = fold / "history.json"
        if attempts.is_file() and history.is_file() and len(json.loads(history.read_text())) in (1, 2):
            break
        time.sleep(0.2)
    assert driver.poll() is None, "the training ended before a node could be removed"
    first = json.loads(attempts.read_text())[0]["node_id"]
    epochs_before = len(json.loads((fold / "history.json").read_text()))
    node = next(n for n in cluster.worker_nodes if n.node_id == first)
    cluster.remove_node(node)
    add_worker(cluster)
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output[-3000:]
    ran_on = _summary(work, "all")["ran_on"]
    assert ran_on["retries"] == 1 and ran_on["attempts"][0]["node_id"] == first != ran_on["node_id"]
    log = (fold / "train.log").read_text()
    assert "resuming 3d_fullres fold all from checkpoint" in log and "resuming from epoch" in log
    history = json.loads((fold / "history.json").read_text())
    assert len(history) == 4 and epochs_before >= 1  # continued, not started over
