"""Shared fixtures: small synthetic datasets planned once per session (CPU speed fixed, so plans are stable)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.plan_command import plan

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_console_logging(monkeypatch):
    """Every test: cli.main() would attach a logging handler to the stream it finds, which under capture dies
    with that test, and every later log record would then print a 'Logging error' traceback into other tests'
    stderr (one-line error checks fail far from the cause)."""
    monkeypatch.setattr("autoseg.utils.logs.setup_console", lambda verbose=True: None)


def shrink_epochs(work: Path, iterations: int = 10, val_iterations: int = 2) -> None:
    """Short epochs so tests train a few hundred iterations at most."""
    path = work / "plans.json"
    plans = json.loads(path.read_text())
    for cfg in plans["configurations"].values():
        cfg["training"]["iterations_per_epoch"] = iterations
        cfg["training"]["val_iterations"] = val_iterations
    path.write_text(json.dumps(plans, indent=2))


@pytest.fixture(scope="session")
def synthetic_3d(tmp_path_factory) -> Path:
    return make_synthetic_dataset(
        tmp_path_factory.mktemp("data") / "Synthetic3D",
        num_cases=10,
        num_test=2,
        shape=(12, 40, 40),
        spacing=(3.0, 0.9, 0.9),
        seed=3,
    )


@pytest.fixture(scope="session")
def planned_3d(synthetic_3d, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("work") / "W3d"
    plan(synthetic_3d, work, preset="cpu-fast", cpu_gflops=40, time_budget="2m", progress=False, workers=1)
    shrink_epochs(work)
    return work


def pytest_terminal_summary(terminalreporter, config):
    """Lines tests leave in config.autoseg_notes (e.g. the catalogue's count of cases) end the run's output."""
    for line in getattr(config, "autoseg_notes", []):
        terminalreporter.write_line(line)
