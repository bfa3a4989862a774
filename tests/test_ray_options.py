"""The executor seam without a cluster (fast): the local executor, what a training asks Ray for, the messages of
--ray without Ray and of cluster options without --ray, and how predict splits its cases."""

from __future__ import annotations

import sys

import pytest

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.execution.executor import Task
from autoseg.execution.local import LocalExecutor
from autoseg.execution.options import open_executor
from autoseg.execution.predict_shards import shards
from autoseg.execution.ray_executor import import_ray, training_resources


def _double(payload, attempts):
    if payload["x"] < 0:
        raise AutosegError("negative")
    return 2 * payload["x"], attempts[-1]["node_id"]


def test_local_executor_runs_in_order_and_skips_what_needs_a_failed_task():
    executor = open_executor(None)
    assert isinstance(executor, LocalExecutor) and "ray" not in executor.where
    outcomes = executor.run_all(
        [
            Task("a", _double, {"x": 2}),
            Task("b", _double, {"x": -1}),
            Task("c", _double, {"x": 3}, after=["b"]),
            Task("d", _double, {"x": 4}),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert outcomes[0].value == (4, "local") and outcomes[0].attempts[0]["outcome"] == "done"
    with pytest.raises(AutosegError, match="negative"):
        outcomes[1].result()
    assert "not run" in str(outcomes[2].error)


def test_ray_missing_is_one_line_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AutosegError, match=r'pip install "autoseg\[ray\]"'):
        import_ray()
    assert main(["train", "WORK", "-c", "3d_fullres", "--ray", "local"]) == 2
    assert 'pip install "autoseg[ray]"' in capsys.readouterr().err


def test_cluster_options_need_ray(capsys):
    assert main(["train", "WORK", "-c", "3d_fullres", "--cpus-per-training", "2"]) == 2
    assert "only apply with --ray" in capsys.readouterr().err


def test_what_one_training_asks_for():
    cpu_nodes = [
        {"node_id": "a", "host": "h", "cpus": 8, "gpus": 0},
        {"node_id": "b", "host": "h", "cpus": 4, "gpus": 0},
    ]
    assert training_resources(cpu_nodes, None, None) == {"num_cpus": 4}  # the smallest node's cores
    assert training_resources(cpu_nodes, 2, None) == {"num_cpus": 2}
    gpu_nodes = [{"node_id": "g", "host": "h", "cpus": 16, "gpus": 4}]
    assert training_resources(gpu_nodes, None, None) == {"num_gpus": 1.0, "num_cpus": 1.0}
    with pytest.raises(AutosegError, match="no GPU"):
        training_resources(cpu_nodes, None, 1)
    with pytest.raises(AutosegError, match="no node"):
        training_resources(cpu_nodes, 16, None)
    with pytest.raises(AutosegError, match="no node with CPUs or GPUs"):
        training_resources([], None, None)


def test_shards_are_contiguous_near_equal_and_never_empty():
    assert shards(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert shards(list(range(2)), 5) == [[0], [1]]
    assert shards([], 4) == []
