"""A small trained WORK folder for the sharing tests: 2 folds of 3d_fullres, one short epoch each, scored by
find-best (so the export carries its folds and postprocessing)."""

from __future__ import annotations

import json
from pathlib import Path

from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.inference.find_best import find_best
from autoseg.plan_command import plan
from autoseg.training.loop import train


def make_trained_work(root: Path, channels: int = 1, name: str = "Share", seed: int = 11) -> tuple[Path, Path]:
    """(dataset, work) with 3d_fullres folds 0 and 1 trained for 4 iterations each and find-best run."""
    dataset = make_synthetic_dataset(
        root / name,
        num_cases=6,
        num_test=2,
        shape=(10, 32, 32),
        spacing=(3.0, 0.9, 0.9),
        seed=seed,
        num_channels=channels,
        name=name,
    )
    work = root / f"work_{name}"
    plan(
        dataset,
        work,
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        progress=False,
        workers=1,
        configurations=["3d_fullres"],
    )
    shorten(work)
    for fold in (0, 1):
        train(work, "3d_fullres", fold, epochs=1, workers=0, progress=False)
    find_best(work, ["3d_fullres"])
    return dataset, work


def shorten(work: Path, iterations: int = 4) -> None:
    path = work / "plans.json"
    plans = json.loads(path.read_text())
    for config in plans["configurations"].values():
        config["training"]["iterations_per_epoch"] = iterations
        config["training"]["val_iterations"] = 1
    path.write_text(json.dumps(plans))
