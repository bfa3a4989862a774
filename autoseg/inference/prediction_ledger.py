"""What a predictions folder holds, case by case, so that a killed `autoseg predict` can simply be run again.

prediction_report.json is kept up to date while predicting (under the folder's lock, written atomically):
before the first case, every case of the run is entered as {"status": "pending", "settings", "source_files"};
each case's entry is completed once its label map (and .npz) is on disk. Run again with the same settings:
- a case whose files exist and whose entry is complete, with the same settings and unchanged input files, is
  reused (not predicted again);
- a case still pending from the same settings is this tool's own unfinished work: predicted again, its files
  replaced;
- any other file in the way is someone else's (a user's, or another run's): refused without --overwrite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autoseg.data.file_stamps import source_stamps
from autoseg.errors import AutosegError
from autoseg.inference.outputs import output_files
from autoseg.utils.files import read_json, write_json

PENDING = "pending"


def plain(value: Any) -> Any:
    """As it reads back from JSON (tuples become lists ...), so settings compare equal after a round trip."""
    return json.loads(json.dumps(value, default=str))


class PredictionLedger:
    def __init__(self, report_path: Path, settings: dict[str, Any], save_probabilities: bool):
        self.path = report_path
        self.settings = plain(settings)
        self.save_probabilities = save_probabilities
        self.entries = previous_cases(report_path)
        # The folder is locked for the whole run: what is on disk now changes only through this ledger.
        self.top = (
            {k: v for k, v in read_json(report_path, "prediction report").items() if k != "cases"}
            if report_path.is_file()
            else {}
        )

    def _same_run(self, case, entry: dict | None) -> bool:
        return (
            isinstance(entry, dict)
            and entry.get("settings") == self.settings
            and entry.get("source_files") == plain(source_stamps(case))
        )

    def targets(self, case, output: Path) -> list[Path]:
        files = output_files(case, output, self.settings.get("output_format", "nifti"))
        return files + ([output / f"{case.case_id}.npz"] if self.save_probabilities else [])

    def reusable(self, case, output: Path) -> bool:
        entry = self.entries.get(case.case_id)
        return (
            self._same_run(case, entry)
            and entry.get("status") != PENDING
            and all(p.is_file() for p in self.targets(case, output))
        )

    def ours_unfinished(self, case) -> bool:
        entry = self.entries.get(case.case_id)
        return self._same_run(case, entry) and entry.get("status") == PENDING

    def mark_pending(self, cases) -> None:
        for case in cases:
            self.entries[case.case_id] = {
                "status": PENDING,
                "settings": self.settings,
                "source_files": plain(source_stamps(case)),
            }
        self._save()

    def mark_done(self, case, record: dict[str, Any]) -> None:
        self.entries[case.case_id] = {**record, "source_files": plain(source_stamps(case))}
        self._save()

    def finish(self, report: dict[str, Any]) -> None:
        """The run's own fields (configurations, tta, seconds_per_case ...) replace the previous run's."""
        self.top = {k: v for k, v in report.items() if k != "cases"}
        self._save()

    def _save(self) -> None:
        write_json(self.path, {**self.top, "cases": self.entries})


def previous_cases(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = read_json(path, "prediction report")
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, dict):
        raise AutosegError(
            'this is not a prediction report (no "cases" object), so new cases cannot be added to it',
            path,
            "move or delete the file, or predict into another output folder",
        )
    return cases
