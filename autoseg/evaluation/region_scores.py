"""Scoring by regions (autoseg/labels/region_sets.py): each region is the union of its label values in
both the prediction and the reference, and gets every metric of autoseg.evaluation.metrics.

The summary has the layout of autoseg.evaluation.summary (foreground_mean, per_class, cases), with the regions
in the place of the classes: per_class and each case's metrics are keyed by region name, "regions" names each
region's values and "labels" is None. Reference voxels of the ignore label are scored in no region.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import DEFAULT_TOLERANCE_MM, binary_metrics, exclude_ignored, overlap_metrics
from autoseg.evaluation.pairing import CasePair, pair_cases
from autoseg.evaluation.summary import _map_with_progress, folder_summary, read_pair, summarise
from autoseg.layout.work import PLANS
from autoseg.schema.load import validate_data
from autoseg.schema.plans_file import PlansFile
from autoseg.utils.files import read_json

logger = logging.getLogger(__name__)


def region_metrics(
    pred: np.ndarray,
    ref: np.ndarray,
    regions: Mapping[str, Sequence[int]],
    spacing: Sequence[float],
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    ignore_label: int | None = None,
) -> dict[str, dict]:
    """{region: binary_metrics of (pred in region) vs (ref in region)} for one pair of label maps."""
    pred, ref = exclude_ignored(pred, ref, ignore_label)
    return {
        name: binary_metrics(np.isin(pred, list(values)), np.isin(ref, list(values)), spacing, tolerance_mm)
        for name, values in regions.items()
    }


def region_dice(
    pred: np.ndarray, ref: np.ndarray, regions: Sequence[Sequence[int]], ignore_label: int | None = None
) -> list[float]:
    """Dice per region only (cheap: no surface distances), e.g. for find-best."""
    pred, ref = exclude_ignored(pred, ref, ignore_label)
    return [overlap_metrics(np.isin(pred, list(v)), np.isin(ref, list(v)))["Dice"] for v in regions]


def evaluate_region_pair(
    pair: CasePair, regions: Mapping[str, Sequence[int]], tolerance_mm: float, ignore_label: int | None = None
) -> dict:
    pred, ref, geometry = read_pair(pair)
    return {
        "case": pair.case,
        "prediction": str(pair.prediction),
        "reference": str(pair.reference),
        "spacing": list(geometry.spacing),
        "metrics": region_metrics(pred, ref, regions, geometry.spacing, tolerance_mm, ignore_label),
    }


def evaluate_region_pairs(
    pairs: list[CasePair],
    regions: Mapping[str, Sequence[int]],
    workers: int = 1,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    reference_folder: str | Path = ".",
    ignore_label: int | None = None,
) -> dict:
    """Score explicit (prediction, reference) pairs by regions, e.g. the validation cases of one fold."""
    if not regions:
        raise AutosegError("no regions to score", reference_folder, "give at least one region")
    regions = {str(name): [int(v) for v in values] for name, values in regions.items()}
    score = partial(evaluate_region_pair, regions=regions, tolerance_mm=tolerance_mm, ignore_label=ignore_label)
    cases = _map_with_progress(score, pairs, workers)
    return {
        "tolerance_mm": float(tolerance_mm),
        "labels": None,
        "regions": regions,
        "ignore_label": ignore_label,
        "n_cases": len(cases),
        **summarise(cases, regions),
        "cases": cases,
    }


def evaluate_region_folders(
    pred_dir: str | Path,
    ref_dir: str | Path,
    regions: Mapping[str, Sequence[int]],
    file_ending: str | None = None,
    out_json: str | Path | None = None,
    workers: int = 1,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    ignore_label: int | None = None,
) -> dict:
    """evaluate_folders by regions: every reference case against the prediction of the same file name."""
    pairs, ending, unmatched = pair_cases(pred_dir, ref_dir, file_ending)
    if unmatched:
        logger.warning(
            "%d prediction file(s) have no reference and are not scored: %s", len(unmatched), ", ".join(unmatched[:5])
        )
    summary = evaluate_region_pairs(pairs, regions, workers, tolerance_mm, ref_dir, ignore_label)
    return folder_summary(summary, pred_dir, ref_dir, ending, unmatched, out_json)


def regions_for_evaluation(
    path: str | Path, declared: set[int] | None = None, ignore_label: int | None = None
) -> dict[str, list[int]]:
    """The regions of `evaluate --regions FILE`: a regions file ({"labels": ..., "regions_class_order": ...}) or
    a work folder's plans.json (its "regions")."""
    from autoseg.labels.region_sets import load_regions_file

    data = read_json(path, "regions file")
    if isinstance(data, dict) and "configurations" in data:  # a plans.json
        validate_data(data, PlansFile, PLANS, path)
        if not data.get("regions"):
            raise AutosegError(
                "this plans.json trains plain labels, not regions",
                path,
                "pass a regions file or a plan made with regions, or leave out --regions",
            )
        return {str(k): [int(v) for v in values] for k, values in data["regions"].items()}
    return load_regions_file(path, declared if declared is not None else _all_values(data), ignore_label)[0]


def _all_values(data) -> set[int]:
    """Without a dataset to declare the label values, any positive value a region names is accepted."""
    labels = data.get("labels") if isinstance(data, dict) else None
    values = set()
    for value in (labels or {}).values():
        if isinstance(value, list):
            values.update(v for v in value if isinstance(v, int) and not isinstance(v, bool))
    return values
