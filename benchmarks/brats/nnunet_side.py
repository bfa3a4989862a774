"""nnU-Net v2 beside autoseg on the BraTS sample: predict time and peak RAM for one case, with and without TTA.

    python benchmarks/brats/nnunet_side.py setup   --work WORK/brats2 --out WORK/nnunet   # untimed: plan, train
    python benchmarks/brats/nnunet_side.py predict --case CASE --out WORK/nnunet     # timed: cpu-lock exclusive

setup: the dataset linked as nnU-Net raw data (benchmarks/nnunet/nnunet_dataset.py), autoseg's WORK/splits.json
as splits_final.json, nnUNetv2_plan_and_preprocess -c 3d_fullres, then a training just long enough to have a
checkpoint (nnUNetTrainer_TimeBudgetNoVal: the harness's time-budget trainer without the closing validation).
Its accuracy is not the point: only the predict time and memory are compared (same network size whatever the
weights). predict: nnUNetv2_predict of one case with fold 0, with mirror TTA and with --disable_tta, each measured
as autoseg's benchmark stages are (wall time, peak summed PSS of the process tree). Results go to
nnunet_results.json next to this script, its folders named DATA, WORK (the $WORK of train_untimed.sh, if set) or
OUT, and VENV. nnU-Net is installed by benchmarks/nnunet/setup_venv.sh into $VENV (default nnunet_venv beside the
repository); the BraTS sample is read from $DATA (default ../shared/data beside the repository).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

from autoseg.benchmark.machine import load_average, machine_info
from autoseg.benchmark.stage import log_tail, run_stage
from autoseg.data.dataset import load_dataset
from autoseg.utils.files import read_json, write_json

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "nnunet"))
sys.path.insert(0, str(HERE.parent))
from nnunet_dataset import link_inputs, make_raw_dataset, write_splits  # noqa: E402
from recorded_paths import with_placeholders  # noqa: E402

DATA = Path(os.environ.get("DATA") or HERE / "../../../shared/data").resolve()
DATASET = DATA / "Dataset003_BraTSSample"
TRAINER = "nnUNetTrainer_TimeBudgetNoVal"
VENV = Path(os.environ.get("VENV") or HERE.parents[2] / "nnunet_venv")


def environment(out: Path, budget_seconds: float) -> dict:
    return {
        "nnUNet_raw": str(out / "raw"),
        "nnUNet_preprocessed": str(out / "preprocessed"),
        "nnUNet_results": str(out / "results"),
        "nnUNet_extTrainer": str(HERE / "nnunet_trainers"),
        "NNUNET_TIME_BUDGET_S": str(budget_seconds),
        "NNUNET_TB_ITERATIONS": "5",
        "NNUNET_TB_VAL_ITERATIONS": "1",
        "nnUNet_compile": "false",
    }


def stage(name: str, command: list, out: Path, env: dict, timeout: float | None = None) -> dict:
    """One measured command; with `timeout` it is stopped after that many seconds (exit 124, recorded as such)."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {name} ...", flush=True)
    wrapped = ["timeout", str(int(timeout)), *command] if timeout else command
    result = run_stage(name, wrapped, out / "logs" / f"{name.replace(' ', '_')}.log", env=env)
    print(f"    {result.seconds:.1f} s, peak RAM {result.peak_ram_mb:.0f} MB, exit {result.returncode}", flush=True)
    if timeout and result.returncode == 124:
        return {**result.to_dict(), "stopped_after_timeout_s": timeout}
    if result.returncode != 0:
        sys.exit(f"{name} failed: {log_tail(result.log, 5)} (log: {result.log})")
    return result.to_dict()


def recorded_folders(out: Path) -> dict:
    """The placeholders the record names its folders by (benchmarks/README.md)."""
    work = os.environ.get("WORK")
    where = {"WORK": Path(work).resolve()} if work else {"OUT": out}
    return {**where, "DATA": DATA, "VENV": VENV}


def setup(args) -> None:
    env = environment(args.out, args.budget)
    number, name = make_raw_dataset(load_dataset(DATASET), Path(env["nnUNet_raw"]))
    stage(
        "nnunet plan_and_preprocess",
        [VENV / "bin" / "nnUNetv2_plan_and_preprocess", "-d", number, "-c", "3d_fullres", "-np", "1"],
        args.out,
        env,
    )
    write_splits(args.work / "splits.json", Path(env["nnUNet_preprocessed"]) / name)
    stage(
        "nnunet train",
        [VENV / "bin" / "nnUNetv2_train", number, "3d_fullres", "0", "-tr", TRAINER, "-device", "cpu"],
        args.out,
        env,
    )


def predict(args) -> None:
    env = environment(args.out, args.budget)
    number, name = make_raw_dataset(load_dataset(DATASET), Path(env["nnUNet_raw"]))
    inputs = link_inputs(DATASET, [args.case], args.out / "input")
    entry = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "case": args.case,
        "machine": machine_info(),
        "load_average_before": load_average(),
        "stages": {},
    }
    plans = read_json(Path(env["nnUNet_preprocessed"]) / name / "nnUNetPlans.json", "nnU-Net plans")
    entry["patch_size"] = plans["configurations"]["3d_fullres"]["patch_size"]
    for tag in args.tags:
        tta = tag == "tta"
        command = [
            VENV / "bin" / "nnUNetv2_predict",
            "-i",
            inputs,
            "-o",
            args.out / f"pred_{tag}",
            "-d",
            number,
            "-c",
            "3d_fullres",
            "-f",
            "0",
            "-tr",
            TRAINER,
            "-device",
            "cpu",
            "-npp",
            "1",
            "-nps",
            "1",
            *([] if tta else ["--disable_tta"]),
        ]
        result = stage(f"nnunet predict {tag}", command, args.out, env, args.timeout)
        result["command"] = shlex.join(map(str, command))
        entry["stages"][tag] = result
        entry["load_average_after"] = load_average()
        # after each stage: a later one may be cut short
        write_json(HERE / "nnunet_results.json", with_placeholders(entry, recorded_folders(args.out)))
    print(
        json.dumps({k: {"seconds": v["seconds"], "peak_ram_mb": v["peak_ram_mb"]} for k, v in entry["stages"].items()})
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=["setup", "predict"])
    p.add_argument("--out", type=Path, required=True, help="work folder (outside the repository), e.g. WORK/nnunet")
    p.add_argument("--work", type=Path, help="setup: the autoseg WORK folder whose splits.json nnU-Net uses")
    p.add_argument("--case", default="brats_2013_pat0003_1", help="predict: the case to time")
    p.add_argument(
        "--tags",
        nargs="+",
        default=["no_tta", "tta"],
        choices=["no_tta", "tta"],
        help="predict: without and/or with mirror TTA, in this order",
    )
    p.add_argument("--timeout", type=float, help="predict: stop a run after this many seconds (recorded as cut)")
    p.add_argument("--budget", type=float, default=60.0, help="setup: training seconds (a checkpoint is enough)")
    args = p.parse_args(argv)
    args.out = args.out.resolve()
    setup(args) if args.step == "setup" else predict(args)


if __name__ == "__main__":
    main()
