"""Read the runs run.sh wrote (OUT/<dataset>_<policy>_<budget>) and write results.json, the table in results.md
and dice_vs_budget.png next to this script. Each run's held-out Dice is compared, case by case, with the same
dataset's 15-minute run (paired mean difference and its standard error over the held-out cases).

Usage: python benchmarks/budget/summarize.py OUT
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTES = "<!-- notes: kept by summarize.py -->"  # what follows it in results.md is written by hand
MINUTES = {"15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240}
# every way of spending a budget beyond 15 minutes, drawn from the shared 15-minute point
STYLES = {"new": "o-", "uncapped": "x-.", "old": "s--", "wide": "^:", "resenc": "v:", "batch": "D:"}
LABELS = {
    "new": "new policy (iterations, capped at 150 passes)",
    "uncapped": "new policy without the cap",
    "old": "old rule (patch)",
    "wide": "2x width",
    "resenc": "residual encoder",
    "batch": "4x batch",
}


def case_dice(summary: dict) -> dict[str, float]:
    """Foreground-mean Dice per held-out case (the mean over the labels each case scores)."""
    found = {}
    for case in summary["cases"]:
        scores = [m["Dice"] for m in case["metrics"].values() if m.get("Dice") is not None]
        if scores:
            found[case["case"]] = statistics.fmean(scores)
    return found


def read_run(folder: Path) -> dict | None:
    dataset, policy, budget = folder.name.rsplit("_", 2)
    summary_file = folder / "work" / dataset / "heldout" / "summary_tta.json"
    if not summary_file.is_file() or budget not in MINUTES:
        return None
    summary = json.loads(summary_file.read_text())
    trained = next((folder / "work" / dataset / "models").glob("*/fold_0/training_summary.json"), None)
    training = json.loads(trained.read_text()) if trained else {}
    report_file = folder / "report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    return {
        "network": network_words(folder / "work" / dataset / "plans.json", training.get("configuration")),
        "run": folder.name,
        "dataset": dataset,
        "policy": policy,
        "budget": budget,
        "minutes": MINUTES[budget],
        "heldout_dice": summary["foreground_mean"]["Dice"],
        "heldout_cases": summary["n_cases"],
        "case_dice": case_dice(summary),
        "configuration": training.get("configuration"),
        "patch_size": training.get("patch_size"),
        "batch_size": training.get("batch_size"),
        "iterations": training.get("iterations"),
        "passes": passes(folder / "work" / dataset, training.get("configuration")),
        "training_seconds": training.get("training_seconds"),
        "ended_by": training.get("ended_by", "budget"),
        "precision": training.get("precision"),
        "command": portable_command(report.get("command"), folder.parent),
        "cpu": (report.get("machine") or {}).get("cpu"),
    }


def passes(work: Path, configuration: str | None) -> float | None:
    """Sampled patch voxels over the training images' voxels (the budget policy's cap counts these): each epoch
    on the progressive phase's smaller patches while the trainer's progress (time, or the plan's epoch cap,
    whichever leads) was within it, on the full patches after."""
    try:
        config = json.loads((work / "plans.json").read_text())["configurations"][configuration]
        history = json.loads((work / "models" / configuration / "fold_0" / "history.json").read_text())
        cases = json.loads((work / "fingerprint.json").read_text())["cases"]
    except (OSError, KeyError, TypeError):
        return None
    t = config["training"]
    full = math.prod(config["patch_size"]) * config["batch_size"]
    small = math.prod(t.get("progressive_patch_size") or config["patch_size"]) * (
        t.get("progressive_batch_size") or config["batch_size"]
    )
    seconds, cap = t.get("time_budget_s"), t.get("max_epochs")
    sampled, before = 0.0, (0, 0.0)
    for index, epoch in enumerate(history):
        progress = max(before[1] / seconds if seconds else 0.0, index / cap if cap else 0.0)
        step = small if progress < (t.get("progressive_fraction") or 0.0) else full
        sampled += (epoch["iterations"] - before[0]) * step
        before = (epoch["iterations"], epoch["elapsed_s"])
    return round(sampled / sum(math.prod(c["cropped_shape"]) for c in cases), 1)


def portable_command(command: str | None, out: Path) -> str | None:
    """The run's command with this machine's folders taken out: OUT's runs relative to OUT, a preset of this folder
    as benchmarks/budget/NAME.json (wherever the copy of the code that ran it lay)."""
    if not command:
        return command
    command = command.replace(f"{out.resolve()}/", "")
    return re.sub(r"--preset \S*/benchmarks/budget/", "--preset benchmarks/budget/", command)


def network_words(plans_file: Path, configuration: str | None) -> str:
    """'unet 16-128' (architecture, first and last stage's features), '+blocks 1-6' when the stages differ."""
    if not plans_file.is_file() or not configuration:
        return "?"
    network = json.loads(plans_file.read_text())["configurations"][configuration]["network"]
    words = f"{network['architecture']} {network['features'][0]}-{network['features'][-1]}"
    blocks = network.get("blocks_per_stage") or []
    return words + (f" blocks {min(blocks)}-{max(blocks)}" if len(set(blocks)) > 1 else "")


def paired(run: dict[str, float], reference: dict[str, float]) -> dict | None:
    """Run minus reference over the cases both scored: mean difference and standard error. It does not count
    how two trainings of one plan differ (seeds), so |mean| under ~2 SE is noise, and a bit more is not yet proof."""
    common = sorted(set(run) & set(reference))
    if len(common) < 2:
        return None
    diffs = [run[c] - reference[c] for c in common]
    return {
        "cases": len(common),
        "mean_difference": statistics.fmean(diffs),
        "standard_error": statistics.stdev(diffs) / math.sqrt(len(diffs)),
    }


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| dataset | policy | budget | network | patch | batch | iterations | passes | held-out Dice "
        "| vs 15 min (paired, SE) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        versus = r.get("versus_15m")
        words = f"{versus['mean_difference']:+.4f} ({versus['standard_error']:.4f})" if versus else "-"
        patch = "x".join(str(p) for p in r["patch_size"]) if r["patch_size"] else "?"
        lines.append(
            f"| {r['dataset']} | {r['policy']} | {r['budget']} | {r.get('network', '?')} | {patch} | "
            f"{r['batch_size']} | {r['iterations']} | {r['passes'] if r.get('passes') is not None else '?'} | "
            f"{r['heldout_dice']:.4f} | {words} |"
        )
    return lines


def shares_new_point(row: dict, policy: str) -> bool:
    """Every curve starts from the 15-minute run; without the cap, the policy trains as `new` wherever the cap did
    not end the run (training_summary.json's ended_by)."""
    if row["policy"] != "new":
        return False
    return row["minutes"] <= 15 or (policy == "uncapped" and row.get("ended_by") != "epoch cap")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    figure, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        for policy, style in STYLES.items():
            points = sorted(
                (r["minutes"], r["heldout_dice"], (r.get("versus_15m") or {}).get("standard_error", 0.0))
                for r in rows
                if r["dataset"] == dataset and (r["policy"] == policy or shares_new_point(r, policy))
            )
            own = any(r["dataset"] == dataset and r["policy"] == policy for r in rows)
            if own and (len(points) > 1 or policy == "new"):  # bars: the paired SE against 15 minutes
                minutes, dice, error = zip(*points)
                axis.errorbar(minutes, dice, yerr=error, fmt=style, capsize=3, label=LABELS.get(policy, policy))
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_xlim(12, 300)
        axis.set_xticks([15, 60, 240], ["15 min", "1 h", "4 h"])
        axis.set_title(dataset)
        axis.set_ylabel("held-out Dice (fold 0, mirror TTA)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(out: Path) -> None:
    rows = [r for r in (read_run(p) for p in sorted(out.iterdir()) if p.is_dir() and p.name.count("_") >= 2) if r]
    rows.sort(key=lambda r: (r["dataset"], r["policy"] != "new", r["minutes"]))
    reference = {r["dataset"]: r for r in rows if r["minutes"] == 15 and r["policy"] == "new"}
    for r in rows:
        if r is not reference.get(r["dataset"]) and r["dataset"] in reference:
            r["versus_15m"] = paired(r["case_dice"], reference[r["dataset"]]["case_dice"])
    (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    results = HERE / "results.md"
    kept = results.read_text().split(NOTES, 1)[1] if results.is_file() and NOTES in results.read_text() else "\n"
    header = [
        "# Held-out Dice against the CPU time budget (issue 32)",
        "",
        "Written by `python benchmarks/budget/summarize.py OUT` from `bash benchmarks/budget/run.sh OUT ...`.",
        f"CPU: {', '.join(sorted({r['cpu'] or '?' for r in rows}))} (see the notes for its kind); one run at a "
        "time. Plot: dice_vs_budget.png.",
        "",
    ]
    results.write_text("\n".join(header + table(rows)) + "\n\n" + NOTES + kept)
    if rows:
        plot(rows, HERE / "dice_vs_budget.png")
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
