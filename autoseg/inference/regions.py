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

from autoseg.data.regions import labels_from_regions, region_masks
from autoseg.preprocessing.case import one_hot_foreground
from autoseg.preprocessing.undo import restore_probabilities


def probabilities_from_logits(logits, regions: bool) -> np.ndarray:
    """(K, *spatial) logits (a torch tensor, or numpy for the onnxruntime backend) -> probabilities: sigmoid per
    region, or softmax over classes."""
    if isinstance(logits, np.ndarray):
        return _numpy_probabilities(logits, regions)
    import torch
    return (torch.sigmoid(logits) if regions else torch.softmax(logits, 0)).numpy()


def _numpy_probabilities(logits: np.ndarray, regions: bool) -> np.ndarray:
    if regions:
        return 1 / (1 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(0, keepdims=True))  # no overflow: the largest exponent is 0
    return shifted / shifted.sum(0, keepdims=True)


def label_map(probabilities: np.ndarray, regions_class_order: Sequence[int] | None = None) -> np.ndarray:
    """The label map of per-class (argmax) or per-region (regions_class_order) probabilities."""
    if regions_class_order:
        return labels_from_regions(probabilities, regions_class_order)
    return probabilities.argmax(0).astype(np.uint8 if probabilities.shape[0] < 256 else np.int16)


def restore_output(probabilities: np.ndarray, properties: dict[str, Any], transpose_backward: list[int],
                   regions: bool) -> np.ndarray:
    """restore_probabilities; outside the cropped box softmax outputs are background (channel 0 is 1) while every
    region is absent (all 0)."""
    return restore_probabilities(probabilities, properties, transpose_backward, background=not regions)


def region_uncertainty(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean binary entropy (0 = certain, 1 = p 0.5) over the regions, inside the predicted foreground."""
    foreground = labels > 0
    if not foreground.any():
        return {"mean_entropy_foreground": 0.0, "foreground_voxels": 0}
    p = np.clip(probabilities[:, foreground], 1e-6, 1 - 1e-6)
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2.0)
    return {"mean_entropy_foreground": float(entropy.mean()), "foreground_voxels": int(foreground.sum())}


def stage_input(label: np.ndarray, plans, dtype=np.float32) -> np.ndarray:
    """A previous stage's label map (on this stage's grid) as extra input channels for a cascade stage: its region
    masks, or one channel per foreground class (0/1 values; uint8 keeps a large volume's masks small)."""
    if plans.regions:
        return region_masks(label, list(plans.regions.values())).astype(dtype)
    return one_hot_foreground(label, plans.num_classes, dtype)
