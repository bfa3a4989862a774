"""The cases a benchmark scores: the dataset's labelled test set, else the validation cases of the folds.

Either way the cases are laid out as two folders (images to predict, references to score against), with
symbolic links to the dataset's own files, so that `autoseg predict` and `autoseg evaluate` run on them as a
user would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from autoseg.data.dataset import DatasetInfo
from autoseg.layout.work import SPLITS
from autoseg.schema.splits_file import read_splits


@dataclass
class HeldOutSet:
    kind: str  # "test" or "cross-validation"
    description: str
    case_ids: list[str]
    labels_dir: Path
    images_dirs: dict[str, Path] = field(default_factory=dict)  # fold -> its validation images; "" for test

    def predict_jobs(self, chosen: Sequence[str], folds: Sequence[int]) -> list[tuple[str, Path, list[str]]]:
        """(stage label, image folder, predict options) per `autoseg predict` command.

        Test set: every benchmarked fold, find-best's choice with its postprocessing. Validation cases: the
        chosen configuration(s) of that fold only, no postprocessing (it was chosen on these very cases).
        """
        if self.kind == "test":
            return [("", self.images_dirs[""], ["-f", *map(str, folds)])]
        return [
            (f"fold {fold} ", self.images_dirs[str(fold)], ["-c", *chosen, "-f", str(fold), "--no-postprocessing"])
            for fold in folds
        ]


def heldout_set(info: DatasetInfo, work: Path, folds: Sequence[int]) -> HeldOutSet:
    if info.test and all(case.label_file is not None for case in info.test):
        return HeldOutSet(
            "test",
            f"the dataset's {len(info.test)} test cases (imagesTs, references in labelsTs)",
            [c.case_id for c in info.test],
            info.root / "labelsTs",
            {"": info.root / "imagesTs"},
        )
    splits = read_splits(work / SPLITS)
    cases = {c.case_id: c for c in info.training}
    root = work / "heldout"
    images_dirs, case_ids = {}, []
    for fold in folds:
        val = splits[fold]["val"]
        images_dirs[str(fold)] = root / f"images_fold{fold}"
        for case_id in val:
            for image in cases[case_id].image_files:
                _link(image, images_dirs[str(fold)] / image.name)
            _link(cases[case_id].label_file, root / "labels" / cases[case_id].label_file.name)
        case_ids += val
    folds_text = ", ".join(map(str, folds))
    return HeldOutSet(
        "cross-validation",
        f"the {len(case_ids)} validation cases of fold {folds_text} (each "
        "predicted by the model of its fold, which never trained on it)",
        case_ids,
        root / "labels",
        images_dirs,
    )


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        os.symlink(Path(target).resolve(), link)


def choose_overlay_cases(summary: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(kind, case, mean foreground Dice) of the worst, the best and the median case, without repeats (a case
    that is both median and best counts as best)."""
    dice = sorted(
        (float(np.mean([m["Dice"] for m in case["metrics"].values()])), case["case"]) for case in summary["cases"]
    )
    picks = [("worst", 0), ("best", len(dice) - 1), ("median", len(dice) // 2)]
    chosen, seen = [], set()
    for kind, index in picks:
        value, case = dice[index]
        if case not in seen:
            seen.add(case)
            chosen.append((kind, case, round(value, 4)))
    order = {"worst": 0, "median": 1, "best": 2}
    return sorted(chosen, key=lambda pick: order[pick[0]])
