"""The command-line options every verb that can run on a cluster shares (train, benchmark, predict, search)."""

from __future__ import annotations

from autoseg.execution.executor import Executor


def add_ray_arguments(p) -> None:
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on Ray: 'local' (an embedded Ray with this machine's "
        "resources), 'auto' (the cluster this node belongs to), ray://HOST:PORT (Ray Client); "
        'needs pip install "autoseg[ray]"',
    )
    p.add_argument(
        "--cpus-per-training",
        type=float,
        help="with --ray: CPU cores one training takes (default: a node's cores on CPU nodes, 1 on GPU nodes)",
    )
    p.add_argument(
        "--gpus-per-training", type=float, help="with --ray: GPUs one training takes (default 1 on GPU nodes)"
    )


def executor_from_arguments(a):
    """The executor the options ask for: local (no --ray) or a RayExecutor; use it with `with`."""
    from autoseg.errors import AutosegError

    given = [
        flag
        for flag, attr in (
            ("--cpus-per-training", "cpus_per_training"),
            ("--gpus-per-training", "gpus_per_training"),
            ("--trainings-at-once", "trainings_at_once"),
        )
        if getattr(a, attr, None)
    ]
    if given and not getattr(a, "ray", None):
        raise AutosegError(
            f"{' and '.join(given)} only apply with --ray",
            fix="add --ray local (or a cluster's address), or drop " + " ".join(given),
        )
    if getattr(a, "trainings_at_once", None) is not None and a.trainings_at_once < 1:
        raise AutosegError(
            f"--trainings-at-once {a.trainings_at_once}: at least one training must run",
            fix="pass a count of 1 or more, or drop --trainings-at-once",
        )
    return open_executor(
        getattr(a, "ray", None),
        cpus_per_training=getattr(a, "cpus_per_training", None),
        gpus_per_training=getattr(a, "gpus_per_training", None),
        trainings_at_once=getattr(a, "trainings_at_once", None),
    )


def open_executor(
    ray_address: str | None = None,
    *,
    cpus_per_training: float | None = None,
    gpus_per_training: float | None = None,
    trainings_at_once: int | None = None,
) -> Executor:
    """The local executor without an address; else a RayExecutor connected to `ray_address` ('local', 'auto',
    'ray://host:port', or a cluster's address), whose workers() is at most `trainings_at_once` when given."""
    # Imported here, not at the top: the executors import executor.py, and Ray is imported only with --ray.
    if not ray_address:
        from autoseg.execution.local import LocalExecutor

        return LocalExecutor()
    from autoseg.execution.ray_executor import RayExecutor

    return RayExecutor(
        ray_address,
        cpus_per_training=cpus_per_training,
        gpus_per_training=gpus_per_training,
        trainings_at_once=trainings_at_once,
    )
