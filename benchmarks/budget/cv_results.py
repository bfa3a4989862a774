"""Issue 32's Hippocampus 5-fold cross-validation, kept one fold at a time so that it can span sessions (cv.sh).

Each fold is its own `autoseg benchmark ... -f K` run (RUNS/fold_K). A finished one is kept here as cv/fold_K.json:
its validation cases' Dice per label (mirror TTA), the CPU and precision it trained with, its iterations and time.
The folds make one cross-validation: every case is scored once, by the fold that held it out, and a label's CV Dice
is its mean over all cases, as in nnU-Net's summary of its CV. cv/results.md says which folds are in.

Usage: python benchmarks/budget/cv_results.py [RUNS]   (keep RUNS' finished folds, then write cv/results.md)
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from pathlib import Path

from autoseg.planning.budget import cpu_name

HERE = Path(__file__).resolve().parent / "cv"
NOTES = "<!-- notes: kept by cv_results.py -->"  # what follows it in results.md is written by hand
NNUNET = {"Anterior": 0.8975, "Posterior": 0.8807}  # nnU-Net 3d_fullres, 5-fold CV on all 260 Task04 cases
FOLDS = 5


def fold_record(run: Path) -> dict | None:
    """A finished fold run's record, or None while it is not finished (no report.json yet)."""
    summary_file = next(run.glob("work/*/heldout/summary_tta.json"), None)
    training_file = next(run.glob("work/*/models/*/fold_*/training_summary.json"), None)
    if not (run / "report.json").is_file() or summary_file is None or training_file is None:
        return None
    report = json.loads((run / "report.json").read_text())
    training = json.loads(training_file.read_text())
    keep = ("configuration", "precision", "compiled", "epochs", "iterations", "training_seconds")
    return {
        **{key: training.get(key) for key in keep},
        "fold": int(training["fold"]),
        "patch_size": training.get("patch_size"),
        "batch_size": training.get("batch_size"),
        "cpu": machine_cpu(report),
        "command": portable_command(report.get("command") or "", run),
        "commit": (report.get("versions") or {}).get("autoseg_commit"),
        "cases": {
            case["case"]: {label: metrics["Dice"] for label, metrics in case["metrics"].items()}
            for case in json.loads(summary_file.read_text())["cases"]
        },
    }


def machine_cpu(report: dict) -> str | None:
    """The report's CPU; a report from before autoseg named the family and model gets this machine's, which is
    right where cv.sh keeps a fold: on the machine that ran it, as soon as it ends."""
    cpu = (report.get("machine") or {}).get("cpu")
    return cpu if cpu is None or "family" in cpu else cpu_name()


def portable_command(command: str, run: Path) -> str:
    """The fold's command with this machine's folders taken out: OUT for cv.sh's output, DATA for the datasets."""
    command = command.replace(str(run.resolve().parent.parent), "OUT")
    return re.sub(r"\S*/(Task04_Hippocampus)\b", r"DATA/\1", command)


def cross_validation(folds: list[dict]) -> dict:
    """Per label: the mean Dice over every case the folds scored and its standard error over cases."""
    cases = {case: dice for fold in folds for case, dice in fold["cases"].items()}
    labels = sorted({label for dice in cases.values() for label in dice})
    result = {"folds": sorted(f["fold"] for f in folds), "cases": len(cases), "per_label": {}}
    for label in labels:
        values = [dice[label] for dice in cases.values() if dice.get(label) is not None]
        spread = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
        result["per_label"][label] = {"mean": statistics.fmean(values), "standard_error": spread}
    result["foreground_mean"] = statistics.fmean(v["mean"] for v in result["per_label"].values())
    return result


def markdown(folds: list[dict], cv: dict) -> str:
    labels = list(cv["per_label"])
    lines = [
        "# Hippocampus 5-fold cross-validation (issue 32)",
        "",
        "Written by `python benchmarks/budget/cv_results.py RUNS` from `bash benchmarks/budget/cv.sh OUT`. Mirror TTA;",
        "each fold scored on the cases it held out (fold_K.json here). nnU-Net's numbers are its published 3d_fullres",
        "5-fold CV on all 260 Task04 cases; ours are on the 200 cases in ../shared/data (see its README).",
        "",
        "| fold | cases | " + " | ".join(labels) + " | mean | iterations | precision | training | CPU | commit |",
        "|---" * (len(labels) + 8) + "|",
    ]
    folds = sorted(folds, key=lambda f: f["fold"])
    for fold in folds:
        dice = [statistics.fmean(c[label] for c in fold["cases"].values()) for label in labels]
        lines.append(
            f"| {fold['fold']} | {len(fold['cases'])} | "
            + " | ".join(f"{d:.4f}" for d in dice)
            + f" | {statistics.fmean(dice):.4f} | {fold['iterations']} | {fold['precision']} | "
            f"{fold['training_seconds'] / 60:.0f} min | {fold['cpu']} | {fold.get('commit') or '?'} |"
        )
    done = f"{len(cv['folds'])} of {FOLDS} folds" + ("" if len(cv["folds"]) == FOLDS else " (not yet a full CV)")
    ours = " | ".join(
        f"{v['mean']:.4f} ({v['standard_error']:.4f})" if v["standard_error"] else f"{v['mean']:.4f}"
        for v in cv["per_label"].values()
    )
    lines.append(f"| **CV, {done}** | {cv['cases']} | {ours} | **{cv['foreground_mean']:.4f}** | | | | | |")
    theirs = [NNUNET.get(label) for label in labels]
    if all(theirs):
        words = " | ".join(f"{t:.4f}" for t in theirs)
        lines.append(f"| nnU-Net 3d_fullres | 260 | {words} | {statistics.fmean(theirs):.4f} | | | | | |")
    lines += ["", "Command of each fold (OUT's folders taken out):", ""]
    lines += [f"- fold {f['fold']}: `{f['command']}`" for f in folds]
    return "\n".join(lines) + "\n"


def main(runs: Path | None) -> None:
    HERE.mkdir(exist_ok=True)
    for run in sorted(runs.glob("fold_*")) if runs else []:
        record = fold_record(run)
        if record is not None:
            (HERE / f"fold_{record['fold']}.json").write_text(json.dumps(record, indent=1) + "\n")
    folds = [json.loads(p.read_text()) for p in sorted(HERE.glob("fold_*.json"))]
    if not folds:
        print("no finished fold yet")
        return
    cv = cross_validation(folds)
    (HERE / "results.json").write_text(json.dumps(cv, indent=1) + "\n")
    results = HERE / "results.md"
    old = results.read_text() if results.is_file() else ""
    kept = old.split(NOTES, 1)[1] if NOTES in old else "\n"
    table = markdown(folds, cv)
    results.write_text(table + "\n" + NOTES + kept)
    print(table)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
