"""Issue 19's benchmark: fine-tuning versus training from scratch, a transfer across datasets, and the
export -> delete WORK -> predict identity, on the real data. Each step appends its record (command, numbers,
machine, load average) to benchmarks/finetune/results.json, its folders written as DATA and OUT. The datasets come
from $DATA (default ../shared/data beside the repository); work folders live under $OUT (required, outside the
repository): the source model in OUT/hippo, the rest in OUT/finetune.

    export OUT=FOLDER   # outside the repository; DATA too if the datasets are elsewhere
    python benchmarks/finetune/run.py prepare            # untimed: plan Hippocampus, train the fold-0 model
    cpu-lock exclusive python benchmarks/finetune/run.py finetune   # fold 1, 3 min from the fold-0 model
    cpu-lock exclusive python benchmarks/finetune/run.py scratch    # fold 1, 3 min from scratch
    python benchmarks/finetune/run.py transfer           # BraTS sample (2 channels) from the Hippocampus model
    python benchmarks/finetune/run.py export-identity    # export, delete WORK, predict from the zip, compare

`prepare` expects the Hippocampus plan and fold-0 model of SOURCE_WORK (see SOURCE_COMMANDS) and exports it.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from autoseg.benchmark.machine import load_average, machine_info, software_versions  # noqa: E402
from benchmarks.recorded_paths import with_placeholders  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("DATA") or HERE / "../../../shared/data").resolve()
OUT = Path(os.environ.get("OUT") or sys.exit("set OUT to a work folder outside the repository")).resolve()
SCRATCH = OUT / "finetune"
SOURCE_WORK = OUT / "hippo"
MODEL = SCRATCH / "hippocampus_fold0.zip"
SOURCE_COMMANDS = [  # how SOURCE_WORK's fold-0 model was made (untimed, under cpu-lock shared)
    "autoseg plan DATA/Task04_Hippocampus -o OUT/hippo --time-budget 3m -c 3d_fullres",
    "autoseg train OUT/hippo -c 3d_fullres -f 0 --time-budget 6m   (stopped in its validation)",
    "autoseg train OUT/hippo -c 3d_fullres -f 0 --extend --epochs 12 --no-validation",
]
BUDGET = "3m"
PRECISION = "fp32"


def run(command: list[str]) -> float:
    print("+", " ".join(command), flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True)
    return round(time.monotonic() - started, 1)


def record(step: str, data: dict) -> None:
    path = HERE / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[step] = {
        **with_placeholders(data, {"DATA": DATA, "OUT": OUT}),
        "machine": machine_info(),
        "software": software_versions(),
        "load_average_after": load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    path.write_text(json.dumps(results, indent=2) + "\n")


def fresh_work(name: str, precision: str | None = None) -> Path:
    """A copy of the Hippocampus WORK (plan, splits, preprocessed cache) without its models; `precision` fixes
    the plan's training precision (the fine-tune/scratch pair trains fp32: see results.md on bf16 NaNs)."""
    work = SCRATCH / name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(SOURCE_WORK, work, ignore=shutil.ignore_patterns("models", "*.log"))
    if precision:
        plans = json.loads((work / "plans.json").read_text())
        for config in plans["configurations"].values():
            config["training"]["precision"] = precision
        (work / "plans.json").write_text(json.dumps(plans, indent=2))
    return work


def prepare() -> None:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    seconds = run(["autoseg", "export", str(SOURCE_WORK), "-o", str(MODEL), "-f", "0", "--overwrite"])
    summary = json.loads((SOURCE_WORK / "models/3d_fullres/fold_0/training_summary.json").read_text())
    record(
        "source_model",
        {
            "commands": SOURCE_COMMANDS + [f"autoseg export {SOURCE_WORK} -o {MODEL} -f 0"],
            "iterations": summary["iterations"],
            "training_seconds": summary["training_seconds"],
            "export_seconds": seconds,
            "zip_bytes": MODEL.stat().st_size,
        },
    )


def fold1(step: str, init_from: bool) -> None:
    work = fresh_work(f"hippo_{step}", PRECISION)
    command = ["autoseg", "train", str(work), "-c", "3d_fullres", "-f", "1", "--time-budget", BUDGET]
    command += ["--init-from", str(MODEL)] if init_from else []
    seconds = run(command)
    summary = json.loads((work / "models/3d_fullres/fold_1/training_summary.json").read_text())
    init = summary.get("init_from")
    record(
        step,
        {
            "command": " ".join(command),
            "wall_seconds": seconds,
            "iterations": summary["iterations"],
            "training_seconds": summary["training_seconds"],
            "validation_cases": len(json.loads((work / "splits.json").read_text())[1]["val"]),
            "validation_dice": summary["validation_dice"],
            "validation_dice_per_class": summary["validation_dice_per_class"],
            "precision": summary["precision"],
            "plan_precision_set_to": PRECISION,
            "init_from": None if not init else {k: init[k] for k in ("source", "matched", "total")},
        },
    )


def transfer() -> None:
    work = SCRATCH / "brats_from_hippocampus"
    shutil.rmtree(work, ignore_errors=True)
    plan = [
        "autoseg",
        "plan",
        str(DATA / "Dataset003_BraTSSample"),
        "-o",
        str(work),
        "--cv-folds",
        "2",
        "--plans-from",
        str(SOURCE_WORK),
        "-c",
        "3d_fullres",
    ]
    plan_seconds = run(plan)
    train = [
        "autoseg",
        "train",
        str(work),
        "-c",
        "3d_fullres",
        "-f",
        "0",
        "--epochs",
        "1",
        "--no-validation",
        "--init-from",
        str(MODEL),
    ]
    train_seconds = run(train)
    summary = json.loads((work / "models/3d_fullres/fold_0/training_summary.json").read_text())
    plans = json.loads((work / "plans.json").read_text())["configurations"]["3d_fullres"]
    init = summary["init_from"]
    record(
        "transfer",
        {
            "commands": [" ".join(plan), " ".join(train)],
            "plan_seconds": plan_seconds,
            "train_seconds": train_seconds,
            "iterations": summary["iterations"],
            "network": {
                "in_channels": plans["network"]["in_channels"],
                "num_classes": plans["network"]["num_classes"],
                "patch_size": plans["patch_size"],
                "spacing": plans["spacing"],
            },
            "matched": init["matched"],
            "total": init["total"],
            "matched_values": init["matched_values"],
            "total_values": init["total_values"],
            "reinitialised": init["reinitialised"],
        },
    )


def export_identity() -> None:
    """20 Hippocampus training images (it has no labelled test set): predict WORK, export, delete WORK, predict
    from the zip, compare the label maps byte for byte."""
    root = SCRATCH / "identity"
    shutil.rmtree(root, ignore_errors=True)
    images = root / "images"
    images.mkdir(parents=True)
    for path in sorted((DATA / "Task04_Hippocampus" / "imagesTr").glob("hippocampus_*.nii.gz"))[:20]:
        (images / path.name).symlink_to(path)
    work = fresh_work("identity/work")
    shutil.copytree(SOURCE_WORK / "models", work / "models")
    commands = [
        ["autoseg", "predict", str(work), "-i", str(images), "-o", str(root / "from_work")],
        ["autoseg", "export", str(work), "-o", str(root / "model.zip")],
    ]
    for command in commands:
        run(command)
    shutil.rmtree(work)
    last = ["autoseg", "predict", "--model", str(root / "model.zip"), "-i", str(images), "-o", str(root / "from_zip")]
    run(last)
    names = sorted(p.name for p in (root / "from_work").glob("*.nii.gz"))
    match, mismatch, errors = filecmp.cmpfiles(root / "from_work", root / "from_zip", names, shallow=False)
    record(
        "export_identity",
        {
            "commands": [" ".join(c) for c in commands] + [f"rm -r {work}", " ".join(last)],
            "cases": len(names),
            "byte_identical": len(match),
            "different": mismatch + errors,
        },
    )


def predictor_vs_cli(count: int = 10) -> None:
    """autoseg.Predictor on the exported zip, fed SimpleITK images and numpy arrays, against the CLI's label maps
    of export_identity (same model, default settings)."""
    import numpy as np
    import SimpleITK as sitk

    from autoseg import Predictor

    root = SCRATCH / "identity"
    started = time.monotonic()
    predictor = Predictor.load(root / "model.zip", device="cpu")
    same_sitk = same_numpy = 0
    images = sorted((root / "images").glob("*.nii.gz"))[:count]
    for path in images:
        cli = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "from_zip" / path.name)))
        image = sitk.ReadImage(str(path))
        same_sitk += np.array_equal(sitk.GetArrayFromImage(predictor.predict(image)), cli)
        array = sitk.GetArrayFromImage(image)
        same_numpy += np.array_equal(predictor.predict(array, spacing=image.GetSpacing()[::-1]), cli)
    record(
        "predictor_vs_cli",
        {
            "code": "Predictor.load(model.zip).predict(sitk image) and "
            ".predict(array, spacing=...) vs predict --model's label maps",
            "cases": len(images),
            "same_labels_sitk": same_sitk,
            "same_labels_numpy": same_numpy,
            "seconds": round(time.monotonic() - started, 1),
        },
    )


if __name__ == "__main__":
    steps = {
        "prepare": prepare,
        "finetune": lambda: fold1("finetune", True),
        "scratch": lambda: fold1("scratch", False),
        "transfer": transfer,
        "export-identity": export_identity,
        "predictor": predictor_vs_cli,
    }
    steps[sys.argv[1]]()
