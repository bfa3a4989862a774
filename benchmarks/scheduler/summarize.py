"""Read the benchmark reports run.sh wrote and write results.json + results.md next to this script.

Usage: python benchmarks/scheduler/summarize.py OUT
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTES = "<!-- notes: kept by summarize.py -->"   # what follows it in results.md is written by hand


def row(name: str, report: dict) -> dict:
    dataset = report["datasets"][0]
    scores = (dataset.get("evaluation") or {}).get("tta") or {}
    schedule = dataset.get("schedule") or {}
    return {"run": name, "status": dataset["status"], "command": report["command"],
            "machine": report["machine"], "created": report["created"],
            "heldout_dice": (scores.get("foreground_mean") or {}).get("Dice"),
            "heldout_cases": (dataset.get("evaluation") or {}).get("cases"),
            "configurations": (dataset.get("selection") or {}).get("configurations"),
            "folds": (schedule.get("find_best") or {}).get("folds") or report["settings"].get("folds"),
            "stopped": schedule.get("stopped"), "policy": (schedule.get("policy") or {}).get("reason"),
            "schedule_wall_seconds": schedule.get("wall_seconds"),
            "wall_seconds": dataset.get("wall_seconds"),
            "load_average": [dataset.get("load_average_before"), dataset.get("load_average_after")]}


def main(out: Path) -> None:
    rows = [row(p.parent.name, json.loads(p.read_text())) for p in sorted(out.glob("*/report.json"))]
    (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["# Scheduler vs one model: held-out Dice by total budget", "",
             "Written by `summarize.py` from the runs of `run.sh`; each row's command, machine and load average "
             "are in results.json.", "",
             "| run | held-out Dice (TTA) | cases | configurations | folds | stopped early | schedule wall time |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        dice = f"{r['heldout_dice']:.4f}" if r["heldout_dice"] is not None else r["status"]
        wall = f"{r['schedule_wall_seconds'] / 60:.1f} min" if r["schedule_wall_seconds"] else "-"
        lines.append(f"| {r['run']} | {dice} | {r['heldout_cases']} | {r['configurations']} | {r['folds']} | "
                     f"{', '.join(r['stopped'] or {}) or '-'} | {wall} |")
    target = HERE / "results.md"
    notes = target.read_text().partition(NOTES)[2] if target.is_file() and NOTES in target.read_text() else ""
    target.write_text("\n".join(lines) + "\n" + (f"\n{NOTES}{notes}" if notes else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
