"""The command-line side: --mlflow [URI], --mlflow-experiment, --mlflow-parent, and the context they open."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.tracking.context import TrackingContext
from autoseg.tracking.store import open_tracking


def add_arguments(p: argparse.ArgumentParser, parent: bool = True) -> None:
    p.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="log the runs to MLflow: a tracking server (http://host:5000), a database URI, or without "
        "URI an SQLite store in WORK (mlflow ui --backend-store-uri sqlite:///WORK/mlflow.db)",
    )
    p.add_argument("--mlflow-experiment", metavar="NAME", help="MLflow experiment (default: the dataset's name)")
    if parent:
        p.add_argument(
            "--mlflow-parent", metavar="RUN_ID", help="nest the runs under this MLflow run (a benchmark passes its own)"
        )


def looks_like_store(value: str) -> bool:
    """What --mlflow takes as its URI: a URI with a scheme (http://, postgresql://, sqlite:///, file:/path),
    MLflow's 'databricks', or a .db file."""
    return value == "databricks" or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value) is not None or value.endswith(".db")


def bare_mlflow_flags(argv: list[str]) -> list[str]:
    """`--mlflow` followed by a word that is no tracking store (`train --mlflow work -c 2d`) is the flag without a
    URI: argparse would take the word as the URI and then miss its own argument."""
    out = list(argv)
    for i, token in enumerate(out[:-1]):
        following = out[i + 1]
        if token == "--mlflow" and not following.startswith("-") and not looks_like_store(following):
            out[i] = "--mlflow="
    return out


def requested(a: argparse.Namespace) -> bool:
    """Whether --mlflow was given; its companions alone are a mistake, said in one line."""
    if getattr(a, "mlflow", None) is not None:
        return True
    extra = [
        flag
        for attr, flag in (("mlflow_experiment", "--mlflow-experiment"), ("mlflow_parent", "--mlflow-parent"))
        if getattr(a, attr, None)
    ]
    if extra:
        raise AutosegError(f"{' and '.join(extra)} only apply with --mlflow", fix="add --mlflow [URI]")
    return False


def context_from_arguments(
    a: argparse.Namespace, folder: str | Path, default_experiment: Callable[[], str]
) -> TrackingContext | None:
    """The tracking context the options ask for (None without --mlflow); the store is checked now."""
    if not requested(a):
        return None
    return open_tracking(
        a.mlflow or None, folder, a.mlflow_experiment or default_experiment(), getattr(a, "mlflow_parent", None)
    )


def work_experiment(work: str | Path, suffix: str = "") -> str:
    """Default experiment of a WORK folder: its dataset's name (plus e.g. the search study)."""
    from autoseg.schema.plans import load_plans

    name = load_plans(work).dataset_name
    return f"{name} {suffix}".strip()
