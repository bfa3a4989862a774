"""Validation during and after training.

- Pseudo-Dice every epoch: a few validation patches through the network (eval mode), true/false positives and
  negatives summed over them per class -- cheap, noisy, smoothed with an EMA to pick the best checkpoint.
- Full-image validation at the end: every validation case predicted with the sliding window (as `autoseg
  predict` would), restored to its original geometry, written to fold_k/validation/, and scored against the
  dataset's own label files with autoseg.evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from autoseg.data.dataset import load_dataset
from autoseg.data.geometry import Geometry
from autoseg.evaluation.pairing import CasePair
from autoseg.evaluation.region_scores import evaluate_region_pairs
from autoseg.evaluation.summary import evaluate_pairs
from autoseg.inference.export import write_prediction
from autoseg.inference.models import LoadedModel
from autoseg.inference.predictor import InferenceSettings, predict_preprocessed
from autoseg.labels import label_manager
from autoseg.labels.region_sets import batch_region_masks
from autoseg.preprocessing.undo import restore_probabilities
from autoseg.schema.plans import Configuration, Plans
from autoseg.training.dataset import TrainingCase
from autoseg.utils.files import write_json


def confusion_counts(
    logits: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    regions: list[list[int]] | None = None,
    ignore_label: int | None = None,
) -> np.ndarray:
    """(num_classes - 1, 3) true positives, false positives, false negatives per foreground class.

    Target voxels outside the classes 0..num_classes-1 are not counted: the ignore label is the largest value
    (dataset.json's rule), so it is the one value beyond the classes, and its voxels were never annotated.
    With `regions` (one sigmoid output each): (len(regions), 3) per region, a voxel predicted in a region where
    its logit is > 0 (probability > 0.5), voxels of `ignore_label` not counted.
    """
    if regions:
        return region_confusion_counts(logits, target, regions, ignore_label)
    predicted = logits.argmax(1)
    scored = (target >= 0) & (target < num_classes)
    counts = np.zeros((num_classes - 1, 3), dtype=np.int64)
    for k in range(1, num_classes):
        p, t = (predicted == k) & scored, target == k
        counts[k - 1] = [int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())]
    return counts


def region_confusion_counts(
    logits: torch.Tensor, target: torch.Tensor, regions: list[list[int]], ignore_label: int | None = None
) -> np.ndarray:
    predicted = logits > 0
    masks = batch_region_masks(target, regions).bool()
    scored = (target != ignore_label).unsqueeze(1) if ignore_label is not None else torch.ones_like(masks[:, :1])
    counts = np.zeros((len(regions), 3), dtype=np.int64)
    for r in range(len(regions)):
        p, t = predicted[:, r] & scored[:, 0], masks[:, r]
        counts[r] = [int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())]
    return counts


def pseudo_dice(counts: np.ndarray) -> list[float]:
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    return [float(2 * a / max(1, 2 * a + b + c)) for a, b, c in zip(tp, fp, fn)]


def validate_full_images(
    work: Path,
    plans: Plans,
    config: Configuration,
    model: LoadedModel,
    cases: list[TrainingCase],
    out_dir: Path,
    *,
    settings: InferenceSettings,
    save_probabilities: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict every validation case in its original geometry and score it; writes out_dir/summary.json."""
    info = load_dataset(plans.dataset_path)
    label_files = {c.case_id: c.label_file for c in info.training}
    pairs = []
    labels = label_manager(plans)
    for case in tqdm(cases, desc="validation", disable=not progress):
        probabilities = predict_preprocessed([model], np.asarray(case.image), config, settings, labels=labels)
        restored = restore_probabilities(
            probabilities, case.properties, plans.transpose_backward, background=labels.background_outside_crop
        )
        geometry = Geometry.from_dict(case.properties["geometry"])
        path = write_prediction(
            restored,
            geometry,
            out_dir,
            case.case_id,
            plans.file_ending,
            save_probabilities=save_probabilities,
            labels=labels.label_map(restored),
        )
        pairs.append(CasePair(case.case_id, path, Path(label_files[case.case_id])))
    if labels.has_regions:  # scored per region (the union of its values), as the plan trains them
        summary = evaluate_region_pairs(
            pairs,
            labels.evaluation_entries(),
            reference_folder=info.root / "labelsTr",
            ignore_label=labels.ignore_label,
        )
    else:
        summary = evaluate_pairs(
            pairs, labels.labels, reference_folder=info.root / "labelsTr", ignore_label=labels.ignore_label
        )
    write_json(out_dir / "summary.json", summary)
    return summary
