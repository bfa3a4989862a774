"""Run one command as a measured benchmark stage and append its record to a JSON list.

    python benchmarks/brats/stage.py RECORDS.json NAME -- COMMAND...

The measurement is autoseg's benchmark one (autoseg.benchmark.stage.run_stage: wall time, peak summed PSS of the
process tree); the record adds the command line, the load average before and after, and the date, so a stage run
while other jobs shared the CPU says so. The command's output goes to NAME.log beside RECORDS.json.
"""

from __future__ import annotations

import datetime
import fcntl
import shlex
import sys
from pathlib import Path

from autoseg.benchmark.machine import load_average
from autoseg.benchmark.stage import run_stage
from autoseg.utils.files import read_json, write_json


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    records_path, name, command = Path(argv[0]), argv[1], argv[3:]
    before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    result = run_stage(name, command, records_path.parent / "logs" / f"{name.replace(' ', '_')}.log")
    record = {
        **result.to_dict(),
        "command": shlex.join(command),
        "started_utc": started,
        "load_average_before": before,
        "load_average_after": load_average(),
    }
    with open(records_path.with_suffix(".lock"), "w") as lock:  # stages may run side by side
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = read_json(records_path, "stage records") if records_path.is_file() else []
        write_json(records_path, [r for r in records if r["name"] != name] + [record])
    print(f"{name}: {result.seconds:.1f} s, peak RAM {result.peak_ram_mb:.0f} MB, exit {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
