"""Tasks on a Ray cluster: `--ray local` (an embedded Ray with this machine's resources, on loopback only, no
dashboard, shut down at the end), `--ray auto` (the cluster this node belongs to), `--ray ray://host:port` (Ray
Client), or any address `ray.init` takes.

Resources: a training takes `gpus_per_training` GPUs (default 1) on a cluster with GPUs, else
`cpus_per_training` cores (default: the cores of the smallest node, so a training has a node to itself). Ray
places them: independent trainings run side by side; a task given `after` waits for those tasks (the cascade
for its low-resolution folds). A task whose node dies is retried on another (MAX_RETRIES); an exception of the
task itself (an AutosegError, a bug) is not retried: it would fail again.
Ray is imported only here, and only when `--ray` is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from autoseg.errors import AutosegError
from autoseg.execution.executor import DRIVER, LIGHT, Executor, Outcome, Task
from autoseg.execution.local import run_recorded
from autoseg.execution.records import read_attempts
from autoseg.utils.logs import get_logger

log = get_logger("execution")
MAX_RETRIES = 3
INSTALL_FIX = 'pip install "autoseg[ray]"'


def import_ray():
    try:
        import ray
    except ImportError:
        raise AutosegError("--ray needs Ray, which is not installed", fix=INSTALL_FIX) from None
    return ray


def _in_worker(function, payload, record, *_after):
    """The body of every Ray task (the `after` outcomes are only waited for)."""
    return run_recorded(function, payload, record)


class RayExecutor(Executor):
    def __init__(
        self,
        address: str,
        *,
        cpus_per_training: float | None = None,
        gpus_per_training: float | None = None,
        trainings_at_once: int | None = None,
    ):
        self.ray = import_ray()
        self.address = address
        self._owns = connect(self.ray, address)
        self.where = f"ray ({address})"
        self.training_resources = training_resources(self.nodes(), cpus_per_training, gpus_per_training)
        self.trainings_at_once = trainings_at_once  # this job's share of the cluster (None: all of it)
        self._remote = self.ray.remote(_in_worker)
        self._pending: dict[Any, Task] = {}
        self._refs: dict[str, Any] = {}
        log.info(
            "Ray cluster %s: %d node(s) take work, %s per training", address, len(self.nodes()), self.training_resources
        )

    def nodes(self) -> list[dict[str, Any]]:
        alive = [n for n in self.ray.nodes() if n.get("Alive")]
        return [
            {
                "node_id": n["NodeID"],
                "host": n.get("NodeManagerHostname"),
                "cpus": n["Resources"].get("CPU", 0),
                "gpus": n["Resources"].get("GPU", 0),
            }
            for n in alive
            if n["Resources"].get("CPU", 0) > 0 or n["Resources"].get("GPU", 0) > 0
        ]

    def workers(self) -> int:
        key, need = (
            ("gpus", self.training_resources["num_gpus"])
            if self.training_resources.get("num_gpus")
            else ("cpus", self.training_resources["num_cpus"])
        )
        held = max(1, sum(int(n[key] // need) for n in self.nodes()))
        return min(held, self.trainings_at_once) if self.trainings_at_once else held

    def submit(self, task: Task) -> None:
        options = (
            {"num_cpus": 1}
            if task.kind == LIGHT
            else self._driver_options()
            if task.kind == DRIVER
            else dict(self.training_resources)
        )
        after = [self._refs[name] for name in task.after if name in self._refs]
        ref = self._remote.options(
            max_retries=MAX_RETRIES, retry_exceptions=False, name=task.name[:100], **options
        ).remote(task.function, task.payload, task.record, *after)
        self._refs[task.name] = ref
        self._pending[ref] = task

    def _driver_options(self) -> dict[str, Any]:
        """A driver task (one dataset of benchmark --ray) holds no CPU and stays on this process's node: a
        driver only waits on its stages, and a retried driver would start its dataset over, so it goes where a
        lost node would end the whole job anyway (then --resume), never on a worker that may die alone."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        return {"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=False)}

    def as_completed(self) -> Iterator[Outcome]:
        while self._pending:
            ready, _ = self.ray.wait(list(self._pending), num_returns=1)
            task = self._pending.pop(ready[0])
            try:
                value, attempts = self.ray.get(ready[0])
                yield Outcome(task, value=value, attempts=attempts)
            except self.ray.exceptions.RayError as error:
                yield Outcome(task, error=task_error(error), attempts=read_attempts(task.record))

    def inside_task(self, trainings_at_once: int | None = None) -> dict[str, Any]:
        """What a driver task needs to open the same executor on its node (`RayExecutor.reopen`), planning for
        `trainings_at_once` trainings side by side (its share of the cluster; None: all of it)."""
        return {
            "address": self.address,
            "resources": dict(self.training_resources),
            "trainings_at_once": trainings_at_once,
        }

    @classmethod
    def reopen(cls, inside: dict[str, Any]) -> "RayExecutor":
        """In a Ray task: an executor on the cluster the task runs in (already connected: nothing to start or
        shut down), asking the same resources per training as the driver's."""
        resources = inside["resources"]
        return cls(
            inside["address"],
            cpus_per_training=resources.get("num_cpus"),
            gpus_per_training=resources.get("num_gpus"),
            trainings_at_once=inside.get("trainings_at_once"),
        )

    def cluster_arguments(self) -> list[str]:
        """The options of an autoseg command started inside a Ray task that joins this cluster as its own
        driver (the cluster's GCS address, which every node reaches), with the same resources per training."""
        resources = self.training_resources
        return [
            "--ray",
            self.ray.get_runtime_context().gcs_address,
            "--cpus-per-training",
            str(resources["num_cpus"]),
            *(["--gpus-per-training", str(resources["num_gpus"])] if resources.get("num_gpus") else []),
            "--trainings-at-once",
            str(self.workers()),
        ]

    def run_on_each_node(self, function, payload: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
        """function(payload) once on every node that takes work (pinned to it, no CPU held): [(node, value)]."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = self.ray.remote(function)
        nodes = self.nodes()
        refs = [
            probe.options(
                num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["node_id"], soft=False)
            ).remote(payload)
            for n in nodes
        ]
        return list(zip(nodes, self.ray.get(refs)))

    def close(self) -> None:
        for ref in list(self._pending):
            self.ray.cancel(ref, force=True)
        self._pending.clear()
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()


def task_error(error: BaseException) -> BaseException:
    """The task's own exception when it raised one (an AutosegError prints as its one line), else Ray's (the
    node died more often than the retries allow, the task was cancelled ...)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def connect(ray, address: str) -> bool:
    """Connect (or start the embedded Ray); True when this process started Ray and must shut it down."""
    if ray.is_initialized():
        return False  # a caller (a test, a notebook) connected already: its connection, its shutdown
    quiet = {"include_dashboard": False, "log_to_driver": True, "configure_logging": False}
    if address == "local":
        ray.init(num_cpus=os.cpu_count() or 1, num_gpus=_local_gpus(), _node_ip_address="127.0.0.1", **quiet)
        return True
    options = {} if address.startswith("ray://") else dict(quiet)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise AutosegError(
            f"cannot connect to the Ray cluster at '{address}': {str(error).splitlines()[0]}",
            fix="start Ray first (ray start --head on the head node), pass its address "
            "(--ray auto on a cluster node, ray://HEAD:10001 from outside), or --ray local",
        ) from None
    return True


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except (ImportError, RuntimeError):
        return 0


def training_resources(nodes: list[dict[str, Any]], cpus: float | None, gpus: float | None) -> dict[str, float]:
    """What one training asks Ray for (see the module's docstring); refused when no node could ever give it."""
    if not nodes:
        raise AutosegError(
            "the Ray cluster has no node with CPUs or GPUs to take work",
            fix="start workers (ray start --address HEAD:6379) and try again",
        )
    if any(n["gpus"] > 0 for n in nodes):
        need = {"num_gpus": float(gpus or 1), "num_cpus": float(cpus or 1)}
        fits = any(n["gpus"] >= need["num_gpus"] and n["cpus"] >= need["num_cpus"] for n in nodes)
    else:
        if gpus:
            raise AutosegError(
                f"--gpus-per-training {gpus}: the Ray cluster has no GPU",
                fix="drop --gpus-per-training, or add GPU nodes to the cluster",
            )
        need = {"num_cpus": float(cpus or min(n["cpus"] for n in nodes))}
        fits = any(n["cpus"] >= need["num_cpus"] for n in nodes)
    if not fits:
        raise AutosegError(
            f"no node of the Ray cluster has {need} for one training",
            fix="lower --cpus-per-training / --gpus-per-training to what a node has",
        )
    return need
