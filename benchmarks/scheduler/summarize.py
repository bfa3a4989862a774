"""Read the benchmark reports run.sh wrote and write results.json + results.md next to this script.

Usage: python benchmarks/scheduler/summarize.py OUT
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTES = "<!-- notes: kept by summarize.py -->"  # what follows it in results.md is written by hand


def row(name: str, report: dict) -> dict:
    dataset = report["datasets"][0]
    scores = (dataset.get("evaluation") or {}).get("tta") or {}
    schedule = dataset.get("schedule") or {}
    return {
        "run": name,
        "status": dataset["status"],
        "command": report["command"],
        "machine": report["machine"],
        "created": report["created"],
        "heldout_dice": (scores.get("foreground_mean") or {}).get("Dice"),
        "heldout_cases": (dataset.get("evaluation") or {}).get("cases"),
        "case_dice": scores.get("case_dice") or {},
        "configurations": (dataset.get("selection") or {}).get("configurations"),
        "folds": (schedule.get("find_best") or {}).get("folds") or report["settings"].get("folds"),
        "stopped": schedule.get("stopped"),
        "policy": (schedule.get("policy") or {}).get("reason"),
        "schedule_wall_seconds": schedule.get("wall_seconds"),
        "wall_seconds": dataset.get("wall_seconds"),
        "load_average": [dataset.get("load_average_before"), dataset.get("load_average_after")],
    }


def paired(scheduler: dict[str, float], simple: dict[str, float]) -> dict | None:
    """Scheduler minus simple over the cases both scored: the mean difference and its standard error. Both
    policies predict the same held-out cases, so the pairing removes the case-to-case spread that makes two
    means hard to compare; |mean| under ~2 SE is noise. It does not count how two trainings of one policy
    differ (seeds, length), so a larger difference is not yet a better policy."""
    common = sorted(set(scheduler) & set(simple))
    if len(common) < 2:
        return None
    diffs = [scheduler[c] - simple[c] for c in common]
    return {
        "cases": len(common),
        "mean_difference": statistics.fmean(diffs),
        "standard_error": statistics.stdev(diffs) / math.sqrt(len(diffs)),
    }


def comparisons(rows: list[dict]) -> list[dict]:
    by_name = {r["run"]: r for r in rows}
    found = []
    for name, r in by_name.items():
        if "_scheduler_" not in name or name.endswith("_contaminated"):
            continue
        simple = by_name.get(name.replace("_scheduler_", "_simple_"))
        result = simple and paired(r["case_dice"], simple["case_dice"])
        if result:
            found.append({"scheduler": name, "simple": simple["run"], **result})
    return found


def main(out: Path) -> None:
    rows = [row(p.parent.name, json.loads(p.read_text())) for p in sorted(out.glob("*/report.json"))]
    pairs = comparisons(rows)
    (HERE / "results.json").write_text(json.dumps({"runs": rows, "paired": pairs}, indent=1) + "\n")
    lines = [
        "# Scheduler vs one model: held-out Dice by total budget",
        "",
        "Written by `summarize.py` from the runs of `run.sh`; each row's command, machine and load average "
        "are in results.json.",
        "",
        "| run | held-out Dice (TTA) | cases | configurations | folds | stopped early | schedule wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dice = f"{r['heldout_dice']:.4f}" if r["heldout_dice"] is not None else r["status"]
        wall = f"{r['schedule_wall_seconds'] / 60:.1f} min" if r["schedule_wall_seconds"] else "-"
        lines.append(
            f"| {r['run']} | {dice} | {r['heldout_cases']} | {r['configurations']} | {r['folds']} | "
            f"{', '.join(r['stopped'] or {}) or '-'} | {wall} |"
        )
    lines += [
        "",
        "Paired over the same held-out cases, scheduler minus simple. The SE counts the spread over cases "
        "only, not the spread between two trainings (seed, length): a difference under ~2 SE is noise, "
        "one above it may still be.",
        "",
        "| scheduler | simple | cases | Dice difference | SE |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {p['scheduler']} | {p['simple']} | {p['cases']} | {p['mean_difference']:+.4f} | {p['standard_error']:.4f} |"
        for p in pairs
    ]
    target = HERE / "results.md"
    notes = target.read_text().partition(NOTES)[2] if target.is_file() else ""
    target.write_text("\n".join(lines) + "\n" + (f"\n{NOTES}{notes}" if notes else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
