"""A real 2-node Ray cluster on this machine for the tests/test_ray_*.py files (ray.cluster_utils.Cluster: real
raylets, loopback only, no dashboard): a head that takes no work and two worker nodes of 1 CPU each, so two
trainings land on two different nodes and a node can be removed under a training. Shut down at the end, with
every Ray process it started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoseg.data.synthetic import make_synthetic_dataset

LOOPBACK = "127.0.0.1"


# Ray turns a loopback address into this machine's network address (services.resolve_ip_for_localhost) unless
# "clusters are disabled", as on macOS: then every node, driver and worker stays on 127.0.0.1.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_cluster():
    pytest.importorskip("ray")
    import ray._private.ray_constants as constants
    from ray.cluster_utils import Cluster

    os.environ[LOOPBACK_ENV] = "0"  # the CLI processes the tests start
    constants.ENABLE_RAY_CLUSTER = False  # this process (ray may have been imported before)
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "node_ip_address": LOOPBACK}
    )
    for _ in range(2):
        add_worker(cluster)
    cluster.wait_for_nodes()
    return cluster


def add_worker(cluster):
    return cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK)


def stop_cluster(cluster) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    cluster.shutdown()
    os.environ.pop(LOOPBACK_ENV, None)


def tiny_work(root: Path, name: str = "Tiny", seed: int = 11, folds: int = 2) -> tuple[Path, Path]:
    """(dataset, WORK) of 6 tiny cases, 3d_fullres only, epochs of 4 iterations."""
    from tests.conftest import plan
    from tests.sharing_fixtures import shorten

    dataset = make_synthetic_dataset(
        root / name, num_cases=6, num_test=2, shape=(10, 32, 32), spacing=(3.0, 0.9, 0.9), seed=seed, name=name
    )
    work = root / f"work_{name}"
    plan(
        dataset,
        work,
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=folds,
        progress=False,
        workers=1,
        configurations=["3d_fullres"],
    )
    shorten(work)
    return dataset, work


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """An autoseg command in its own process (its own Ray driver, as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "autoseg.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
