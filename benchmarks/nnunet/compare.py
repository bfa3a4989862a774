"""autoseg and nnU-Net v2 side by side: same machine, same data, same split, same wall-clock training budget.

    python benchmarks/nnunet/compare.py DATASET -c CONFIGURATION -f FOLD --time-budget 15m --out OUT

One heavy job at a time (two at once on 2 cores slowed both sides up to 10x):
1. `autoseg benchmark DATASET --configurations C --folds F --time-budget B` (plan, train, find-best, predict the
   held-out cases with and without TTA, evaluate), each stage in its own process;
2. nnU-Net v2 from its venv (setup_venv.sh): the dataset converted/linked (nnunet_dataset.py), autoseg's
   splits.json as splits_final.json, nnUNetv2_plan_and_preprocess, nnUNetv2_train with the time-bounded trainer
   in trainers/ (same budget), nnUNetv2_predict of the same held-out cases with and without TTA;
3. nnU-Net's predictions scored by `autoseg evaluate` against the very reference files autoseg was scored on.
Every stage is measured alike (wall time; peak RAM = sampled summed PSS of its process tree, see
autoseg.benchmark.stage). The run's entry replaces the one for the same dataset/configuration/fold in
results.json (next to this script, or --results), and results.md is rewritten from it with the ratios
autoseg / nnU-Net. Work folders go to --out (OUT, new or empty, outside the repository); the record names it OUT,
the venv VENV and the interpreter PYTHON, not this machine's folders.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
from pathlib import Path

from autoseg.benchmark.machine import load_average, machine_info, software_versions
from autoseg.benchmark.stage import autoseg_command, log_tail, run_stage
from autoseg.data.dataset import load_dataset
from autoseg.errors import AutosegError
from autoseg.utils.durations import parse_duration
from autoseg.utils.files import read_json

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from nnunet_dataset import link_inputs, make_raw_dataset, write_splits  # noqa: E402
from recorded_paths import with_placeholders  # noqa: E402
from results_table import update_results  # noqa: E402

TRAINER = "nnUNetTrainer_TimeBudget"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("-c", "--configuration", required=True, help="e.g. 3d_fullres or 2d (the same name in both)")
    p.add_argument("-f", "--fold", type=int, default=0)
    p.add_argument("--time-budget", required=True, help="training wall time for each tool, e.g. 15m")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="work folder, new or empty, outside the repository "
        "(e.g. ../nnunet_bench/<dataset>_<config>_f<fold>_<budget>)",
    )
    p.add_argument(
        "--venv",
        type=Path,
        default=HERE.parents[2] / "nnunet_venv",
        help="nnU-Net venv (setup_venv.sh; default nnunet_venv beside the repository)",
    )
    p.add_argument("--preset", default="default", help="autoseg planner preset")
    p.add_argument("--dataset-id", type=int, help="nnU-Net dataset id (default: from the folder name)")
    p.add_argument("--iterations-per-epoch", type=int, default=50, help="nnU-Net trainer's epoch length")
    p.add_argument("--results", type=Path, default=HERE / "results.json")
    return p.parse_args(argv)


class Runner:
    """Runs the stages in order, keeps their measurements, stops at the first failure."""

    def __init__(self, logs: Path):
        self.logs, self.stages = logs, {}

    def run(self, name: str, command: list, env: dict | None = None) -> dict:
        print(f"[{datetime.datetime.now():%H:%M:%S}] {name} ...", flush=True)
        result = run_stage(name, command, self.logs / f"{name.replace(' ', '_').replace('/', '_')}.log", env=env)
        print(f"    {result.seconds:.0f} s, peak RAM {result.peak_ram_mb:.0f} MB, exit {result.returncode}", flush=True)
        if result.returncode != 0:
            raise AutosegError(f"{name} failed: {log_tail(result.log, 5)}", result.log, "read the log")
        self.stages[name] = result.to_dict()
        return self.stages[name]


def nnunet_environment(out: Path, budget_seconds: float, iterations: int) -> dict:
    return {
        "nnUNet_raw": str(out / "nnunet" / "raw"),
        "nnUNet_preprocessed": str(out / "nnunet" / "preprocessed"),
        "nnUNet_results": str(out / "nnunet" / "results"),
        "nnUNet_extTrainer": str(HERE / "trainers"),
        "NNUNET_TIME_BUDGET_S": str(budget_seconds),
        "NNUNET_TB_ITERATIONS": str(iterations),
        "NNUNET_TB_VAL_ITERATIONS": str(max(2, iterations // 10)),
    }


def run_autoseg(args, out: Path, runner: Runner) -> dict:
    report_dir = out / "autoseg"
    runner.run(
        "autoseg benchmark",
        autoseg_command(
            "benchmark",
            args.dataset,
            "-o",
            report_dir,
            "--time-budget",
            args.time_budget,
            "--configurations",
            args.configuration,
            "--folds",
            args.fold,
            "--preset",
            args.preset,
            "--device",
            "cpu",
        ),
    )
    record = read_json(report_dir / "report.json", "autoseg report")["datasets"][0]
    if record["status"] != "ok":
        raise AutosegError(f"autoseg benchmark failed: {record['error']}", report_dir / "report.md")
    return record


def run_nnunet(args, out: Path, runner: Runner, record: dict, budget_seconds: float) -> dict:
    env = nnunet_environment(out, budget_seconds, args.iterations_per_epoch)
    binary = lambda name: str(args.venv / "bin" / name)  # noqa: E731
    number, name = make_raw_dataset(load_dataset(args.dataset), Path(env["nnUNet_raw"]), args.dataset_id)
    runner.run(
        "nnunet plan_and_preprocess",
        [binary("nnUNetv2_plan_and_preprocess"), "-d", number, "-np", "2", "--verify_dataset_integrity"],
        env,
    )
    write_splits(out / "autoseg" / "work" / record["dataset"] / "splits.json", Path(env["nnUNet_preprocessed"]) / name)
    runner.run(
        "nnunet train",
        [binary("nnUNetv2_train"), number, args.configuration, args.fold, "-tr", TRAINER, "-device", "cpu"],
        env,
    )
    case_ids = sorted(record["evaluation"]["tta"]["case_dice"])
    inputs = link_inputs(args.dataset, case_ids, out / "nnunet" / "heldout_images")
    scores = {}
    for tta in (True, False):
        tag = "tta" if tta else "no_tta"
        predictions = out / "nnunet" / f"predictions_{tag}"
        predict = runner.run(
            f"nnunet predict ({tag})",
            [
                binary("nnUNetv2_predict"),
                "-i",
                inputs,
                "-o",
                predictions,
                "-d",
                number,
                "-c",
                args.configuration,
                "-f",
                args.fold,
                "-tr",
                TRAINER,
                "-device",
                "cpu",
                "-npp",
                "2",
                "-nps",
                "2",
                *([] if tta else ["--disable_tta"]),
            ],
            env,
        )
        summary_path = out / "nnunet" / f"summary_{tag}.json"
        runner.run(
            f"nnunet evaluate ({tag})",
            autoseg_command(
                "evaluate",
                predictions,
                record["evaluation"]["references"],
                "-o",
                summary_path,
                "--dataset",
                args.dataset,
            ),
        )
        summary = read_json(summary_path, "evaluation summary")
        scores[tag] = {
            "dice": summary["foreground_mean"]["Dice"],
            "dice_per_class": {k: v["mean"]["Dice"] for k, v in summary["per_class"].items()},
            "hd95": summary["foreground_mean"]["HD95"],
            "seconds_per_case": round(predict["seconds"] / len(case_ids), 3),
        }
    trainer_dir = Path(env["nnUNet_results"]) / name / f"{TRAINER}__nnUNetPlans__{args.configuration}"
    fold_dir = trainer_dir / f"fold_{args.fold}"
    return {
        "dataset": name,
        "training": read_json(fold_dir / "time_budget_summary.json", "nnU-Net run summary"),
        "scores": scores,
        "version": _venv_version(args.venv),
    }


def _venv_version(venv: Path) -> dict:
    code = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "('nnunetv2', 'torch', 'torchvision')}))"
    )
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else {"error": result.stderr[-300:]}


def autoseg_side(record: dict, configuration: str, fold: int, stages: dict) -> dict:
    training = record["configurations"][configuration]["folds"][str(fold)]
    config = record["configurations"][configuration]
    evaluation = record["evaluation"]
    by_name = {s["name"]: s for s in record["stages"]}
    return {
        "dice_tta": evaluation["tta"]["foreground_mean"]["Dice"],
        "dice_no_tta": evaluation["no_tta"]["foreground_mean"]["Dice"],
        "dice_per_class_tta": {k: v["Dice"] for k, v in evaluation["tta"]["per_class"].items()},
        "hd95_tta": evaluation["tta"]["foreground_mean"]["HD95"],
        "iterations": training["iterations"],
        "epochs": training["epochs"],
        "training_seconds": training["training_seconds"],
        "iterations_per_second": training["iterations_per_second"],
        "samples_per_second": training["samples_per_second"],
        "voxels_per_second": training["voxels_per_second"],
        "patch_size": config["patch_size"],
        "batch_size": config["batch_size"],
        "progressive_patch_size": config.get("progressive_patch_size"),
        "seconds_per_case_tta": evaluation["tta"]["command_seconds_per_case"],
        "seconds_per_case_no_tta": evaluation["no_tta"]["command_seconds_per_case"],
        "preprocessing_seconds": by_name["plan"]["seconds"],
        "peak_ram_mb_preprocessing": by_name["plan"]["peak_ram_mb"],
        "peak_ram_mb_training": by_name[f"train {configuration} fold {fold}"]["peak_ram_mb"],
        "peak_ram_mb_predict_tta": by_name[f"predict fold {fold} (TTA)"]["peak_ram_mb"],
        "train_stage_seconds": by_name[f"train {configuration} fold {fold}"]["seconds"],
        "whole_benchmark_seconds": stages["autoseg benchmark"]["seconds"],
    }


def nnunet_side(result: dict, stages: dict) -> dict:
    training, scores = result["training"], result["scores"]
    return {
        "dice_tta": scores["tta"]["dice"],
        "dice_no_tta": scores["no_tta"]["dice"],
        "dice_per_class_tta": scores["tta"]["dice_per_class"],
        "hd95_tta": scores["tta"]["hd95"],
        "iterations": training["iterations"],
        "epochs": training["epochs"],
        "training_seconds": training["training_seconds"],
        "iterations_per_second": training["iterations_per_second"],
        "samples_per_second": training["samples_per_second"],
        "voxels_per_second": training["voxels_per_second"],
        "patch_size": training["patch_size"],
        "batch_size": training["batch_size"],
        "seconds_per_case_tta": scores["tta"]["seconds_per_case"],
        "seconds_per_case_no_tta": scores["no_tta"]["seconds_per_case"],
        "preprocessing_seconds": stages["nnunet plan_and_preprocess"]["seconds"],
        "peak_ram_mb_preprocessing": stages["nnunet plan_and_preprocess"]["peak_ram_mb"],
        "peak_ram_mb_training": stages["nnunet train"]["peak_ram_mb"],
        "peak_ram_mb_predict_tta": stages["nnunet predict (tta)"]["peak_ram_mb"],
        "train_stage_seconds": stages["nnunet train"]["seconds"],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    budget_seconds = parse_duration(args.time_budget)
    out = args.out.resolve()
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} is not empty; choose another --out", file=sys.stderr)
        return 2
    if not (args.venv / "bin" / "nnUNetv2_train").exists():
        print(f"error: no nnU-Net in {args.venv}; run bash benchmarks/nnunet/setup_venv.sh first", file=sys.stderr)
        return 2
    runner = Runner(out / "logs")
    started = datetime.datetime.now().isoformat(timespec="seconds")
    load = {"before": load_average()}
    try:
        record = run_autoseg(args, out, runner)
        load["between"] = load_average()
        nnunet = run_nnunet(args, out, runner, record, budget_seconds)
    except AutosegError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    load["after"] = load_average()
    folders = {"OUT": out, "VENV": args.venv, "PYTHON": sys.executable}  # the record names these
    entry = {
        "dataset": args.dataset.resolve().name,
        "configuration": args.configuration,
        "fold": args.fold,
        "time_budget": args.time_budget,
        "budget_seconds": budget_seconds,
        "date": started,
        "cases_scored": record["evaluation"]["cases"],
        "scored_on": record["evaluation"]["description"],
        "command": shlex.join(
            [
                "python",
                "benchmarks/nnunet/compare.py",
                str(args.dataset),
                "-c",
                args.configuration,
                "-f",
                str(args.fold),
                "--time-budget",
                args.time_budget,
                "--out",
                "OUT",
            ]
        ),
        "stage_commands": {
            name: with_placeholders(shlex.join(s["command"]), folders) for name, s in runner.stages.items()
        },
        "out": "OUT",
        "load_average": load,
        "machine": machine_info(),
        "versions": {**software_versions(), "nnunet_venv": nnunet["version"]},
        "nnunet_trainer": {"name": TRAINER, "iterations_per_epoch": args.iterations_per_epoch},
        "autoseg": autoseg_side(record, args.configuration, args.fold, runner.stages),
        "nnunet": nnunet_side(nnunet, runner.stages),
    }
    update_results(args.results, entry)
    print(f"recorded in {args.results} and {args.results.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
