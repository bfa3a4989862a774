"""What changes in inference when a plan trains regions (plans.regions; see autoseg/data/regions.py).

Outputs are independent sigmoid probabilities per region instead of a softmax over classes; the label map comes
from regions_class_order (threshold 0.5); outside the cropped box every region is absent (probability 0, where
softmax outputs put background 1); the per-case uncertainty is the binary entropy of each region; a cascade stage
receives the previous stage's region masks. Every function here also handles plain labels, so callers need not
branch.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from autoseg.data.regions import labels_from_regions, region_masks
from autoseg.preprocessing.case import one_hot_foreground
from autoseg.preprocessing.undo import restore_probabilities


def probabilities_from_logits(logits: torch.Tensor, regions: bool) -> np.ndarray:
    """(K, *spatial) logits -> probabilities: sigmoid per region, or softmax over classes."""
    return (torch.sigmoid(logits) if regions else torch.softmax(logits, 0)).numpy()


def label_map(probabilities: np.ndarray, regions_class_order: Sequence[int] | None = None) -> np.ndarray:
    """The label map of per-class (argmax) or per-region (regions_class_order) probabilities."""
    if regions_class_order:
        return labels_from_regions(probabilities, regions_class_order)
    return probabilities.argmax(0).astype(np.uint8 if probabilities.shape[0] < 256 else np.int16)


def restore_output(probabilities: np.ndarray, properties: dict[str, Any], transpose_backward: list[int],
                   regions: bool) -> np.ndarray:
    """restore_probabilities, with region probabilities 0 outside the cropped box (it writes background 1 into
    channel 0 there, right for classes, wrong for a region): a throw-away leading channel takes that 1."""
    if not regions:
        return restore_probabilities(probabilities, properties, transpose_backward)
    padded = np.concatenate([np.zeros_like(probabilities[:1]), probabilities])
    return restore_probabilities(padded, properties, transpose_backward)[1:]


def region_uncertainty(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean binary entropy (0 = certain, 1 = p 0.5) over the regions, inside the predicted foreground."""
    foreground = labels > 0
    if not foreground.any():
        return {"mean_entropy_foreground": 0.0, "foreground_voxels": 0}
    p = np.clip(probabilities[:, foreground], 1e-6, 1 - 1e-6)
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2.0)
    return {"mean_entropy_foreground": float(entropy.mean()), "foreground_voxels": int(foreground.sum())}


def stage_input(label: np.ndarray, plans) -> np.ndarray:
    """A previous stage's label map (on this stage's grid) as extra input channels for a cascade stage: its region
    masks, or one channel per foreground class."""
    if plans.regions:
        return region_masks(label, list(plans.regions.values())).astype(np.float32)
    return one_hot_foreground(label, plans.num_classes)
