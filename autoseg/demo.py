"""`autoseg demo`: the whole pipeline -- data, plan, train, predict, evaluate -- on a small synthetic dataset,
in a few minutes on a 2-core CPU.

The dataset looks like an anisotropic MRI series (3 mm slices, 0.8 mm in-plane): a body with an organ and a
darker lesion nested inside it, a bias field and noise (autoseg.data.synthetic). The plan uses the cpu-fast
preset sized to the training time given here, 3d_fullres is trained on fold 0, the held-out test cases
(imagesTs) are segmented and scored against labelsTs. Everything lands in one folder; the printout says where.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.evaluation.summary import evaluate_folders
from autoseg.inference.run import predict
from autoseg.layout.work import CHECKPOINT_FINAL, MODELS, PLAN_LOG, PLANS, PREDICTION_REPORT, TRAIN_LOG, VALIDATION
from autoseg.plan_command import plan
from autoseg.training.loop import train
from autoseg.utils.durations import format_duration, parse_duration
from autoseg.utils.files import write_json

CONFIGURATION = "3d_fullres"
# A file that marks a folder as made by the demo: only such a folder is ever deleted by --overwrite.
MARKER = ".autoseg_demo"
DEFAULT_TRAINING_TIME = "3m"
DEFAULT_SHAPE = (24, 64, 64)
SPACING = (3.0, 0.8, 0.8)


def demo(
    out_dir: str | Path = "autoseg_demo",
    *,
    overwrite: bool = False,
    training_time: str | float = DEFAULT_TRAINING_TIME,
    num_cases: int = 12,
    num_test: int = 4,
    shape: Sequence[int] = DEFAULT_SHAPE,
    device: str = "auto",
    cpu_gflops: float | None = None,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the pipeline into `out_dir`; returns (and writes to out_dir/demo_report.json) where everything is,
    the test-set Dice per class and the seconds each stage took.

    `cpu_gflops` skips measuring this CPU (the plan is then the same on every machine); `epochs` trains that
    many epochs instead of `training_time` (deterministic, for tests).
    """
    out = _fresh_output(Path(out_dir), overwrite)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    train_seconds = parse_duration(training_time)

    def stage(name: str, message: str, run: Callable[[], Any]) -> Any:
        echo(f"\n== {message}")
        t0 = time.monotonic()
        result = run()
        seconds[name] = round(time.monotonic() - t0, 1)
        return result

    dataset = stage(
        "dataset",
        f"making a synthetic dataset ({num_cases} training + {num_test} test cases, "
        f"{'x'.join(map(str, shape))} voxels of {'x'.join(map(str, SPACING))} mm)",
        lambda: make_synthetic_dataset(
            out / "dataset",
            num_cases=num_cases,
            num_test=num_test,
            shape=shape,
            spacing=SPACING,
            num_classes=3,
            seed=seed,
            name="AutosegDemo",
        ),
    )
    work = out / "work"
    stage(
        "plan",
        f"planning (preset cpu-fast, sized for {format_duration(train_seconds)} of training)",
        lambda: plan(
            dataset,
            work,
            preset="cpu-fast",
            device=device,
            time_budget=train_seconds,
            cpu_gflops=cpu_gflops,
            configurations=[CONFIGURATION],
            seed=seed,
            progress=progress,
        ),
    )
    length = f"{epochs} epochs" if epochs else format_duration(train_seconds)
    training = stage(
        "train",
        f"training {CONFIGURATION} on fold 0 for {length}",
        lambda: train(
            work,
            CONFIGURATION,
            0,
            time_budget=None if epochs else train_seconds,
            epochs=epochs,
            device=device,
            progress=progress,
        ),
    )
    predictions = out / "predictions"
    stage(
        "predict",
        "segmenting the test images (imagesTs) with mirror test-time augmentation",
        lambda: predict(
            work, dataset / "imagesTs", predictions, configurations=[CONFIGURATION], device=device, progress=progress
        ),
    )
    evaluation = out / "evaluation.json"
    summary = stage(
        "evaluate",
        "scoring the test segmentations against labelsTs",
        lambda: evaluate_folders(predictions, dataset / "labelsTs", labels=_labels(dataset), out_json=evaluation),
    )
    seconds["total"] = round(time.monotonic() - started, 1)
    report = _report(out, dataset, work, predictions, evaluation, summary, training, seconds)
    write_json(out / "demo_report.json", report)
    echo(_describe(report))
    return report


def _fresh_output(out: Path, overwrite: bool) -> Path:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise AutosegError(
                "the demo folder already exists",
                out,
                "choose another folder with -o, or pass --overwrite to replace the old demo",
            )
        if not (out / MARKER).is_file():
            raise AutosegError(
                "the folder is not empty and was not made by autoseg demo, so --overwrite will not delete it",
                out,
                "choose a new or empty folder with -o",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by autoseg demo; 'autoseg demo --overwrite' may delete this folder\n")
    return out


def _labels(dataset: Path) -> dict[str, int]:
    from autoseg.data.dataset import load_dataset

    return load_dataset(dataset).labels


def _report(out, dataset, work, predictions, evaluation, summary, training, seconds) -> dict[str, Any]:
    fold = work / MODELS / CONFIGURATION / "fold_0"
    return {
        "dice": {name: stats["mean"]["Dice"] for name, stats in summary["per_class"].items()},
        "mean_dice": summary["foreground_mean"]["Dice"],
        "test_cases": summary["n_cases"],
        "training_iterations": training.get("iterations"),
        "validation_dice": training.get("validation_dice"),
        "seconds": seconds,
        "paths": {
            "folder": out,
            "dataset": dataset,
            "plans": work / PLANS,
            "plan_log": work / PLAN_LOG,
            "model": fold / CHECKPOINT_FINAL,
            "training_log": fold / TRAIN_LOG,
            "curves": fold / "curves.png",
            "validation": fold / VALIDATION,
            "predictions": predictions,
            "prediction_report": predictions / PREDICTION_REPORT,
            "evaluation": evaluation,
        },
    }


def _describe(report: dict[str, Any]) -> str:
    paths, seconds = report["paths"], report["seconds"]
    lines = [
        "",
        f"== autoseg demo finished in {format_duration(seconds['total'])} "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in seconds.items() if k != 'total')})",
        f"trained {report['training_iterations']} iterations; Dice on {report['test_cases']} unseen test "
        f"cases (chance level is near 0):",
    ]
    lines += [f"  {name:<10} {dice:.3f}" for name, dice in report["dice"].items()]
    lines += [f"  {'mean':<10} {report['mean_dice']:.3f}", "", "where everything is:"]
    width = max(map(len, paths))
    lines += [f"  {name:<{width}}  {path}" for name, path in paths.items()]
    lines += [
        "",
        "next: point 'autoseg plan' at your own dataset (nnU-Net v2 or MSD layout), e.g.",
        f"  autoseg plan DATASET -o WORK && autoseg train WORK -c {CONFIGURATION} -f 0 && "
        "autoseg predict WORK -i IMAGES -o OUT",
    ]
    return "\n".join(lines)
