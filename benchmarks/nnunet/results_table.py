"""results.json (one entry per dataset/configuration/fold, the latest run) and results.md with the ratios
autoseg / nnU-Net written from it.

    python benchmarks/nnunet/results_table.py        rewrite results.md from results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMOKE_SECONDS = 300  # shorter budgets only show that the chain runs: neither tool learns much in them

# (key, label, digits, higher is better)
ROWS = [
    ("dice_tta", "mean foreground Dice, mirror TTA", 4, True),
    ("dice_no_tta", "mean foreground Dice, no TTA", 4, True),
    ("hd95_tta", "mean foreground HD95 (mm), TTA", 2, False),
    ("iterations", "training iterations in the budget", 0, True),
    ("epochs", "epochs", 0, True),
    ("training_seconds", "training seconds (budget)", 0, None),
    ("iterations_per_second", "training iterations/s", 3, True),
    ("samples_per_second", "training samples/s", 3, True),
    ("voxels_per_second", "training voxels/s", 0, True),
    ("seconds_per_case_tta", "inference s/case with TTA (whole command)", 2, False),
    ("seconds_per_case_no_tta", "inference s/case without TTA (whole command)", 2, False),
    ("preprocessing_seconds", "plan + preprocess seconds", 1, False),
    ("train_stage_seconds", "training command wall seconds (incl. final validation)", 0, None),
    ("peak_ram_mb_preprocessing", "peak RAM plan + preprocess (MB)", 0, False),
    ("peak_ram_mb_training", "peak RAM training (MB)", 0, False),
    ("peak_ram_mb_predict_tta", "peak RAM inference with TTA (MB)", 0, False),
]


def update_results(path: Path, entry: dict) -> None:
    path = Path(path)
    runs = json.loads(path.read_text()) if path.is_file() else []
    same = (entry["dataset"], entry["configuration"], entry["fold"])
    runs = [r for r in runs if (r["dataset"], r["configuration"], r["fold"]) != same] + [entry]
    runs.sort(key=lambda r: (r["dataset"], r["configuration"], r["fold"]))
    path.write_text(json.dumps(runs, indent=2) + "\n")
    path.with_suffix(".md").write_text(render(runs))


def _value(value, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) or digits else f"{value:,}"


def _ratio(a, b) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return "–"
    return f"{a / b:.2f}"


def render(runs: list[dict]) -> str:
    lines = [
        "# autoseg vs nnU-Net v2 on this machine",
        "",
        "Same machine, same data, same split (autoseg's splits.json written as nnU-Net's splits_final.json), "
        "the same wall-clock training budget, one tool at a time; both tools' predictions scored by "
        "`autoseg evaluate` against the same reference files. nnU-Net trains with "
        "`trainers/nnUNetTrainer_TimeBudget.py` (its default trainer with short epochs, the poly learning "
        "rate laid over the budget, stopping at the budget). Peak RAM: sampled summed PSS of each command's "
        "process tree (augmentation workers included). Inference s/case: the predict command's wall time "
        "(start-up and model loading included) divided by the cases. Ratios are autoseg / nnU-Net. Timings "
        "are noisy when the load average nears the 2 cores.",
        "",
    ]
    if not runs:
        lines.append("No run recorded yet.")
    for run in runs:
        budget = run["budget_seconds"]
        smoke = budget < SMOKE_SECONDS
        lines += [
            f"## {run['dataset']} {run['configuration']} fold {run['fold']}, budget {run['time_budget']}"
            + (" (smoke test: only shows the chain runs, not a comparison)" if smoke else ""),
            "",
            f"- date {run['date']}; scored on {run['scored_on']}",
            f"- load average before / between / after: {run['load_average'].get('before')} / "
            f"{run['load_average'].get('between')} / {run['load_average'].get('after')}",
            f"- autoseg {run['versions'].get('autoseg')} ({run['versions'].get('autoseg_commit')}), "
            f"nnU-Net {run['versions']['nnunet_venv'].get('nnunetv2')}, torch {run['versions'].get('torch')}",
            f"- autoseg: patch {run['autoseg']['patch_size']}, batch {run['autoseg']['batch_size']}"
            + (
                f" (first part of the budget: patch {run['autoseg']['progressive_patch_size']})"
                if run["autoseg"].get("progressive_patch_size")
                else ""
            )
            + f"; nnU-Net: patch {run['nnunet']['patch_size']}, batch {run['nnunet']['batch_size']}, "
            f"{run['nnunet_trainer']['iterations_per_epoch']} iterations per epoch",
            f"- reproduce: `{run['command']}`",
            "",
            "| | autoseg | nnU-Net v2 | autoseg / nnU-Net |",
            "|---|---|---|---|",
        ]
        for key, label, digits, _ in ROWS:
            a, b = run["autoseg"].get(key), run["nnunet"].get(key)
            lines.append(f"| {label} | {_value(a, digits)} | {_value(b, digits)} | {_ratio(a, b)} |")
        classes = run["autoseg"]["dice_per_class_tta"]
        for name, value in classes.items():
            other = run["nnunet"]["dice_per_class_tta"].get(name)
            lines.append(f"| Dice {name} (TTA) | {value:.4f} | {_value(other, 4)} | {_ratio(value, other)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    results = HERE / "results.json"
    runs = json.loads(results.read_text()) if results.is_file() else []
    results.with_suffix(".md").write_text(render(runs))
    sys.exit(0)
