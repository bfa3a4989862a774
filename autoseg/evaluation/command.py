"""`autoseg evaluate` as a function: `autoseg.evaluate(...)` and the verb do the same thing (the verb only prints).

Score a folder of predictions against references, with the class names, ignore label and regions of a dataset
(or given), write summary.json, and draw overlays of the worst cases. Every input is checked before anything is
written, so a mistake leaves no half-finished evaluation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import DEFAULT_TOLERANCE_MM
from autoseg.evaluation.summary import evaluate_folders
from autoseg.labels import LabelManager
from autoseg.utils.files import ensure_new_output, write_json

logger = logging.getLogger("autoseg.evaluation")


def evaluate(
    predictions: str | Path,
    references: str | Path,
    output: str | Path | None = None,
    dataset: str | Path | None = None,
    ignore_label: int | None = None,
    regions: str | Path | None = None,
    *,
    overlays: int = 0,
    file_ending: str | None = None,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    processes: int = 1,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Score `predictions` against `references` (same file names) and write the summary; returns the summary.

    output: summary.json to write (default PREDICTIONS/summary.json; an existing one only with overwrite).
    dataset: its dataset.json gives class names, the ignore label and regions, and its images the overlays.
    ignore_label: reference value left out of every score (default: the dataset's, else none).
    regions: a regions file or WORK/plans.json whose regions are scored (default: the dataset's own, if any).
    overlays: PNGs of this many worst cases into SUMMARY_overlays/ next to the summary (needs dataset).
    tolerance_mm: surface Dice tolerance; processes: scoring processes.
    """
    out = Path(output) if output else Path(predictions) / "summary.json"
    ensure_new_output(out, overwrite)
    overlay_dir = _overlay_folder(overlays, dataset, out, overwrite)
    info = None
    if dataset:
        from autoseg.data.dataset import load_dataset

        info = load_dataset(dataset)
    ignore = _ignore_label(ignore_label, info)
    chosen_regions = _evaluation_regions(regions, info)
    if chosen_regions:
        from autoseg.evaluation.region_scores import evaluate_region_folders

        summary = evaluate_region_folders(
            predictions,
            references,
            chosen_regions,
            file_ending=file_ending,
            workers=processes,
            tolerance_mm=tolerance_mm,
            ignore_label=ignore,
        )
    else:
        summary = evaluate_folders(
            predictions,
            references,
            labels=info.labels if info else None,
            file_ending=file_ending,
            workers=processes,
            tolerance_mm=tolerance_mm,
            ignore_label=ignore,
        )
    if overlay_dir is not None:
        _check_overlay_cases(summary, info, overlays)  # before summary.json: no half-finished evaluation
    write_json(out, summary)
    if overlay_dir is not None:
        _save_overlays(summary, info, overlay_dir, overlays)
    return summary


def _ignore_label(ignore_label, info):
    """ignore_label, else the dataset's; it must be a label value (a whole number >= 0)."""
    if ignore_label is None:
        return info.ignore_label if info else None
    if ignore_label < 0:
        raise AutosegError(
            f"--ignore-label {ignore_label} is negative",
            fix="pass the label value to leave out, e.g. --ignore-label 255",
        )
    return ignore_label


def _check_overlay_cases(summary, info, n):
    from autoseg.evaluation.overlays import worst_cases

    images = {case.case_id: case.image_files for case in [*info.training, *info.test]}
    missing = [case["case"] for case, _ in worst_cases(summary, n) if case["case"] not in images]
    absent = [f for case, _ in worst_cases(summary, n) for f in images.get(case["case"], []) if not f.is_file()]
    if missing:
        raise AutosegError(
            f"the dataset has no image for case(s) {', '.join(missing[:5])}, which the overlays need",
            info.root,
            "pass as --dataset the dataset the predicted images come from",
        )
    if absent:
        raise AutosegError("image file of a case to draw is missing", absent[0], "restore it, or drop --overlays")


def _evaluation_regions(regions, info):
    """The regions file (checked against the dataset's label values when given), else the dataset's own regions."""
    if regions:
        from autoseg.evaluation.region_scores import regions_for_evaluation

        declared = {v for v in info.labels.values() if v != 0} if info else None
        return regions_for_evaluation(regions, declared, info.ignore_label if info else None)
    return LabelManager.from_dataset(info).region_sets if info else None


def _overlay_folder(overlays, dataset, out, overwrite):
    """Where the overlays go (None without them), checked before the scoring: the images come from the dataset."""
    if overlays < 0:
        raise AutosegError(f"--overlays {overlays} is negative", fix="pass the number of cases to draw, e.g. 4")
    if overlays == 0:
        return None
    if not dataset:
        raise AutosegError(
            "--overlays needs --dataset: the overlays draw the images, which are in the dataset",
            fix="add --dataset DATASET (the folder with dataset.json), or drop --overlays",
        )
    return ensure_new_output(overlay_folder_of(out), overwrite)


def overlay_folder_of(summary_file: Path) -> Path:
    """SUMMARY_overlays/ beside the summary file."""
    return summary_file.parent / f"{summary_file.stem}_overlays"


def _save_overlays(summary, info, overlay_dir, n):
    from autoseg.evaluation.overlays import save_summary_overlays

    images = {case.case_id: case.image_files for case in [*info.training, *info.test]}
    written = save_summary_overlays(summary, images, overlay_dir, n, dataset=info.root)
    logger.info(
        "wrote %d overlay(s) of the worst cases to %s: %s",
        len(written),
        overlay_dir,
        ", ".join(f"{path.stem} (Dice {dice:.4f})" for path, dice in written),
    )
