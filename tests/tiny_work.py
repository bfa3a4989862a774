"""The one "tiny trained WORK" the tests share: a synthetic dataset, a plan with short epochs, a few folds trained
for an epoch or two. Test files used to build it four times over, each slightly differently."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.plan_command import plan
from autoseg.preprocessing.run import preprocess
from autoseg.training.loop import train


def make_tiny_work(
    root: Path,
    name: str,
    *,
    seed: int,
    num_cases: int = 4,
    num_test: int = 2,
    shape: tuple[int, ...] = (8, 24, 24),
    configurations: tuple[str, ...] = ("3d_fullres",),
    keep_only_these: bool = False,
    iterations: int = 2,
    val_iterations: int = 0,
    fast: bool = False,
    folds: tuple[str | int, ...] = (0,),
    epochs: int = 1,
    validate: bool = False,
) -> SimpleNamespace:
    """(dataset, work, images) with `configurations` x `folds` trained for `epochs` epochs of `iterations`.

    `fast`: fp32 and no compiling (nothing timed or compiled: the test is about files, not speed).
    `keep_only_these`: drop every other configuration from plans.json (plan may add a lowres stage)."""
    dataset = make_synthetic_dataset(
        root / name, num_cases=num_cases, num_test=num_test, shape=shape, spacing=(3.0, 0.9, 0.9), seed=seed, name=name
    )
    work = root / "work"
    plan(
        dataset,
        work,
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        progress=False,
        workers=1,
        configurations=list(configurations),
        preprocess=False,
    )
    path = work / "plans.json"
    plans = json.loads(path.read_text())
    if keep_only_these:
        plans["configurations"] = {c: plans["configurations"][c] for c in configurations}
    for cfg in plans["configurations"].values():
        cfg["training"]["iterations_per_epoch"] = iterations
        cfg["training"]["val_iterations"] = val_iterations
        if fast:
            cfg["training"].update(precision="fp32", compile="off")
    path.write_text(json.dumps(plans))
    preprocess(work, workers=1, progress=False)
    for configuration in configurations:
        for fold in folds:
            train(work, configuration, fold, epochs=epochs, workers=0, validate=validate, progress=False)
    return SimpleNamespace(dataset=dataset, work=work, images=dataset / "imagesTs")
