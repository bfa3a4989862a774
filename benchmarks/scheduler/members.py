"""Did the ensemble pay? Held-out Dice of each fold of a scheduler run's ensemble alone, against the ensemble.

The schedule's policy spends a large budget on several folds of the winner instead of one longer model
(autoseg/scheduling/policy.py). The benchmark compares the ensemble with "all of it on one model"; this script
splits the ensemble into its members, each predicted alone on the same held-out cases, with the same TTA and
find-best's postprocessing, so the ensemble's own gain over its members is a number too.

Usage: python benchmarks/scheduler/members.py OUT/RUN [OUT/RUN ...]   (a run of run.sh with several folds)
Writes RUN/members.json and prints one Markdown table row per fold, and one for the ensemble.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from summarize import paired  # this folder's: the same pairing as the benchmark's table

import autoseg
from autoseg.benchmark.dataset_run import case_dice
from autoseg.data.dataset import load_dataset


def members(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text())
    dataset = report["datasets"][0]
    work = next((run / "work").glob("*/schedule.json")).parent  # one dataset per run of run.sh
    schedule = json.loads((work / "schedule.json").read_text())
    chosen = schedule["find_best"]["configurations"]
    folds = schedule["find_best"]["folds"]
    view = Path(dataset["path"])
    references = Path(dataset["evaluation"]["references"])
    labels = load_dataset(view).labels
    ensemble = dataset["evaluation"]["tta"]  # the benchmark's own scores of the ensemble
    rows = []
    for fold in folds:
        out = work / "heldout" / f"member_fold{fold}"
        autoseg.predict(
            work, [view / "imagesTs"], out, configurations=chosen, folds=[fold], overwrite=True, progress=False
        )
        summary = autoseg.evaluate(out, references, out_json=out / "summary.json", labels=labels)
        alone = case_dice(summary)
        difference = paired(ensemble["case_dice"], alone)
        rows.append(
            {
                "fold": fold,
                "heldout_dice": summary["foreground_mean"]["Dice"],
                "ensemble_minus_fold": difference["mean_difference"],
                "standard_error": difference["standard_error"],
            }
        )
    result = {
        "run": run.name,
        "configurations": chosen,
        "folds": folds,
        "ensemble_heldout_dice": ensemble["foreground_mean"]["Dice"],
        "members": rows,
    }
    (run / "members.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(runs: list[Path]) -> None:
    print("| run | model | held-out Dice (TTA) | ensemble minus it (paired) | SE |\n|---|---|---|---|---|")
    for run in runs:
        r = members(run)
        for m in r["members"]:
            print(
                f"| {r['run']} | {'+'.join(r['configurations'])} fold {m['fold']} alone | {m['heldout_dice']:.4f} | "
                f"{m['ensemble_minus_fold']:+.4f} | {m['standard_error']:.4f} |"
            )
        print(f"| {r['run']} | ensemble of folds {', '.join(r['folds'])} | {r['ensemble_heldout_dice']:.4f} | - | - |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main([Path(a) for a in sys.argv[1:]])
