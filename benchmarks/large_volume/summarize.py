"""results.json -> the measurement table of results.md (between the markers), every row with its command."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = "<!-- table -->", "<!-- /table -->"


def row(r: dict) -> str:
    cpu = r["machine"].get("cpu", r["machine"].get("processor", "?"))
    seconds = r.get("seconds", r.get("seconds_per_case_in_loop"))
    detail = (
        f"{r['windows']} windows of {r['patch']}, step {r['step']}, TTA axes "
        f"{'none' if not r['tta'] else (r['tta_axes'] or 'all')}, {r['probabilities_dtype']} probabilities"
        if "windows" in r
        else f"start-up {r['start_up_seconds']} s + imports {r['import_seconds']} s, median case "
        f"{r['median_case_seconds']} s, TTA {r['tta']}"
        + (f", compiled {r['compiled']} (first case {r['first_case_seconds']:.1f} s)" if "compiled" in r else "")
    )
    return (
        f"| {r['label']} | {seconds} | {r['peak_rss_mb'] / 1024:.2f} | {r['precision']} | {detail} | "
        f"`{r['command']}` | {cpu}, load {r['load_average']} |"
    )


def main() -> None:
    records = json.loads((HERE / "results.json").read_text())
    table = [
        "| what | seconds per case | peak RSS GB | precision | details | command | CPU |",
        "|---|---|---|---|---|---|---|",
        *map(row, records),
    ]
    text = (HERE / "results.md").read_text()
    head, rest = text.split(START)
    (HERE / "results.md").write_text(head + START + "\n" + "\n".join(table) + "\n" + END + rest.split(END)[1])


if __name__ == "__main__":
    main()
