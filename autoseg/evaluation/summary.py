"""Score a folder of predicted label maps against a folder of references, per case and per class.

summary.json (SUMMARY_VERSION 1):
    foreground_mean   {metric: mean over foreground classes of the per-class means}; foreground_mean["Dice"]
                      is the one number autoseg reports for a segmentation
    per_class         {class: {"mean"|"median"|"std": {metric: value}, "n_cases", "n_reference_empty",
                      "n_prediction_empty"}}; statistics run over all cases, empty ones included with the
                      defined values of autoseg.evaluation.metrics (the counts say how many there were)
    cases             [{"case", "prediction", "reference", "spacing", "metrics": {class: {metric: value, ...}}}]
    labels            {class: label value} that were scored; background (value 0) is never scored
    ignore_label      the reference value whose voxels were left out of every metric (None: none was);
                      nnU-Net v2's label named "ignore", never a scored class
plus the folders, file ending, NSD tolerance and prediction files that had no reference.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from autoseg.data.dataset_json import IGNORE_LABEL_NAME
from autoseg.data.image_io import read_label
from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import (
    DEFAULT_TOLERANCE_MM,
    METRIC_NAMES,
    absent_label_metrics,
    evaluate_case,
    exclude_ignored,
)
from autoseg.evaluation.pairing import CasePair, pair_cases
from autoseg.utils.files import write_json

logger = logging.getLogger(__name__)

SUMMARY_VERSION = 1
BACKGROUND = 0


def foreground_values(*label_maps: np.ndarray) -> list[int]:
    """Sorted label values other than background found in any of the maps."""
    values = set()
    for label_map in label_maps:
        values.update(int(v) for v in np.unique(label_map))
    return sorted(values - {BACKGROUND})


def evaluate_pair(
    pair: CasePair, label_values: Sequence[int] | None, tolerance_mm: float, ignore_label: int | None = None
) -> dict:
    """Read one prediction and its reference, check they share a voxel grid, and score the labels.

    With label_values None, the labels scored are those present in either map (read once, not twice).
    Reference voxels of `ignore_label` are left out of every metric.
    """
    pred, ref, ref_geometry = read_pair(pair)
    pred, ref = exclude_ignored(pred, ref, ignore_label)
    values = foreground_values(pred, ref) if label_values is None else label_values
    values = [value for value in values if value != ignore_label]
    return {
        "case": pair.case,
        "prediction": str(pair.prediction),
        "reference": str(pair.reference),
        "spacing": list(ref_geometry.spacing),
        "metrics": evaluate_case(pred, ref, values, ref_geometry.spacing, tolerance_mm),
    }


def read_pair(pair: CasePair):
    """(prediction, reference, reference geometry), refused unless both lie on one voxel grid."""
    ref, ref_geometry = read_label(pair.reference)
    pred, pred_geometry = read_label(pair.prediction)
    difference = pred_geometry.mismatch(ref_geometry)
    if difference is None and pred.shape != ref.shape:
        difference = f"shape {pred.shape} vs {ref.shape}"
    if difference is not None:
        raise AutosegError(
            f"prediction does not lie on the voxel grid of its reference {pair.reference} "
            f"({difference}; prediction first)",
            pair.prediction,
            "write predictions in the geometry of the input images (autoseg predict does), "
            "and check that both folders hold the same cases",
        )
    return pred, ref, ref_geometry


def _map_with_progress(function: Callable[[CasePair], dict], pairs: list[CasePair], workers: int) -> list[dict]:
    progress = {"total": len(pairs), "desc": "evaluate", "unit": "case"}
    if workers <= 1 or len(pairs) <= 1:
        return [function(pair) for pair in tqdm(pairs, **progress)]
    with ProcessPoolExecutor(max_workers=min(workers, len(pairs))) as pool:
        return list(tqdm(pool.map(function, pairs), **progress))


def split_ignore_label(
    labels: Mapping[str, int] | None, ignore_label: int | None = None
) -> tuple[dict[str, int] | None, int | None]:
    """(the classes to score, the ignore label): a label named "ignore" in `labels` (dataset.json style) is the
    ignore label unless one is given; neither it nor background is a class."""
    if labels is None:
        return None, ignore_label
    if ignore_label is None:
        named = [int(value) for name, value in labels.items() if str(name).lower() == IGNORE_LABEL_NAME]
        ignore_label = named[0] if named else None
    classes = {
        str(name): int(value)
        for name, value in labels.items()
        if int(value) not in (BACKGROUND, ignore_label) and str(name).lower() != IGNORE_LABEL_NAME
    }
    return classes, ignore_label


def _scored_classes(labels: dict[str, int] | None, cases: list[dict], ref_dir: Path) -> dict[str, int]:
    """The given classes (background and ignore label already removed), else every value found, named by it."""
    if labels is not None:
        classes = dict(labels)
    else:
        found = sorted({value for case in cases for value in case["metrics"]})
        classes = {str(value): value for value in found}
    if not classes:
        raise AutosegError(
            "no foreground label to score: every reference and prediction is background only",
            ref_dir,
            "check the folders, or pass the labels to score",
        )
    return classes


def _name_metrics(case: dict, classes: dict[str, int]) -> dict:
    """The case record with metrics keyed by class name; labels absent from both maps get the empty values."""
    by_value = case["metrics"]
    named = {name: by_value[value] if value in by_value else absent_label_metrics() for name, value in classes.items()}
    return {**case, "metrics": named}


def class_statistics(records: list[dict]) -> dict:
    """Mean, median and std (over cases) of each metric for one class, and how many cases had empty masks."""
    table = {metric: np.array([record[metric] for record in records], dtype=float) for metric in METRIC_NAMES}
    return {
        "n_cases": len(records),
        "n_reference_empty": sum(bool(record["reference_empty"]) for record in records),
        "n_prediction_empty": sum(bool(record["prediction_empty"]) for record in records),
        "mean": {metric: float(values.mean()) for metric, values in table.items()},
        "median": {metric: float(np.median(values)) for metric, values in table.items()},
        "std": {metric: float(values.std()) for metric, values in table.items()},
    }


def summarise(cases: list[dict], classes: dict[str, int]) -> dict:
    """per_class statistics and the foreground_mean over classes of the per-class means."""
    per_class = {name: class_statistics([case["metrics"][name] for case in cases]) for name in classes}
    foreground_mean = {
        metric: float(np.mean([stats["mean"][metric] for stats in per_class.values()])) for metric in METRIC_NAMES
    }
    return {"foreground_mean": foreground_mean, "per_class": per_class}


def evaluate_folders(
    pred_dir: str | Path,
    ref_dir: str | Path,
    labels: Mapping[str, int] | None = None,
    file_ending: str | None = None,
    out_json: str | Path | None = None,
    workers: int = 1,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    ignore_label: int | None = None,
) -> dict:
    """Score every reference case against the prediction of the same file name; see the module doc for the result.

    labels maps class names to label values (e.g. dataset.json's "labels"); None scores every non-zero value
    found in either folder, named by its value. file_ending defaults to the one ending of the reference files.
    out_json, when given, receives the summary atomically (the caller decides whether it may overwrite).
    ignore_label (default: the value of a label named "ignore" in `labels`): reference voxels left unscored.
    """
    pairs, ending, unmatched = pair_cases(pred_dir, ref_dir, file_ending)
    if unmatched:
        logger.warning(
            "%d prediction file(s) have no reference and are not scored: %s", len(unmatched), ", ".join(unmatched[:5])
        )
    summary = evaluate_pairs(
        pairs, labels, workers=workers, tolerance_mm=tolerance_mm, reference_folder=ref_dir, ignore_label=ignore_label
    )
    return folder_summary(summary, pred_dir, ref_dir, ending, unmatched, out_json)


def folder_summary(summary: dict, pred_dir, ref_dir, ending: str, unmatched: list[str], out_json) -> dict:
    """A folder evaluation's summary.json: which folders were compared, the scores, the unmatched predictions;
    written to `out_json` when given."""
    summary = {
        "version": SUMMARY_VERSION,
        "prediction_folder": str(pred_dir),
        "reference_folder": str(ref_dir),
        "file_ending": ending,
        **summary,
        "predictions_without_reference": unmatched,
    }
    if out_json is not None:
        write_json(out_json, summary)
    return summary


def evaluate_pairs(
    pairs: list[CasePair],
    labels: Mapping[str, int] | None = None,
    workers: int = 1,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    reference_folder: str | Path = ".",
    ignore_label: int | None = None,
) -> dict:
    """Score explicit (prediction, reference) pairs, e.g. the validation cases of one fold."""
    given, ignore_label = split_ignore_label(labels, ignore_label)
    given_values = None if given is None else list(given.values())
    score = partial(evaluate_pair, label_values=given_values, tolerance_mm=tolerance_mm, ignore_label=ignore_label)
    raw_cases = _map_with_progress(score, pairs, workers)
    classes = _scored_classes(given, raw_cases, Path(reference_folder))
    cases = [_name_metrics(case, classes) for case in raw_cases]
    return {
        "tolerance_mm": float(tolerance_mm),
        "labels": classes,
        "ignore_label": ignore_label,
        "n_cases": len(cases),
        **summarise(cases, classes),
        "cases": cases,
    }
