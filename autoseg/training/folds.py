"""Which cases a fold trains and validates on (splits.json; "all": every training case)."""

from __future__ import annotations

from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.layout.work import FINGERPRINT, SPLITS
from autoseg.schema.splits_file import read_splits
from autoseg.utils.files import read_json


def check_fold(work: Path, fold: str) -> str:
    """Checked before anything is written, so a mistyped fold leaves no stray fold_x folder behind."""
    if fold.lower() == "all":
        return "all"
    splits = read_splits(work / SPLITS)
    if not fold.isdigit() or int(fold) >= len(splits):
        raise AutosegError(
            f"fold '{fold}' does not exist (splits.json has {len(splits)} folds)",
            work / SPLITS,
            f"use -f 0..{len(splits) - 1}, several as -f 0 1 2, or -f all",
        )
    return str(int(fold))


def fold_cases(work: Path, fold: str) -> tuple[list[str], list[str]]:
    """(training case ids, validation case ids) of a fold."""
    splits = read_splits(work / SPLITS)
    if fold == "all":
        # Every training case of the dataset (the fingerprint lists them), not one fold's: a user's splits file
        # need not cover every case in each fold.
        ids = {c for f in splits for c in f["train"] + f["val"]}
        if (work / FINGERPRINT).is_file():
            ids |= {c["case_id"] for c in read_json(work / FINGERPRINT, "fingerprint")["cases"]}
        return sorted(ids), []
    k = int(check_fold(work, fold))
    return splits[k]["train"], splits[k]["val"]
