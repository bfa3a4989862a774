"""One object that knows what a plan's labels are: plain classes (one softmax output each) or regions (one sigmoid
output each, region_sets.py), and the ignore label. Every stage asks it instead of branching on the plan itself,
as nnU-Net's LabelManager does:

- the output activation (softmax over classes, or a sigmoid per region) and logits -> probabilities;
- loss targets: the label values each region output learns (None for plain labels, whose losses one-hot the
  label map), and the ignore label whose voxels no loss sees;
- probabilities -> a label map (argmax, or each region writing its value in `region_order`);
- what fills the outside of the cropped box when probabilities go back to the image grid;
- the cascade's extra input channels (one-hot foreground classes, or region masks);
- the foreground groups training patches are centred on (each class, or each region, as nnU-Net samples);
- what evaluation scores (each named class but the ignore label, or each region).

Built from a plan (`LabelManager.from_plans`, also a model folder's plans at predict time) or from a dataset's
description (`from_dataset`: what `evaluate --dataset` and planning read)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from autoseg.labels.region_sets import THRESHOLD, labels_from_regions, region_masks

BACKGROUND = 0
IGNORE_LABEL_NAME = "ignore"


@dataclass(frozen=True)
class LabelManager:
    labels: dict[str, int]  # plain label values of the label maps, background included
    ignore_label: int | None = None  # reference value never trained or scored
    region_sets: dict[str, list[int]] | None = None  # region name -> its label values; None: plain labels
    region_order: list[int] | None = None  # the value region i writes back into a label map
    region_source: str | None = None  # where the regions came from: dataset.json or a regions file

    @classmethod
    def from_plans(cls, plans: Any) -> LabelManager:
        """The labels of a plans.json (schema.plans.Plans)."""
        labels = cls._of(plans.labels, plans.ignore_label, plans.regions, plans.regions_class_order)
        return replace(labels, region_source=plans.regions_source) if labels.has_regions else labels

    @classmethod
    def from_dataset(cls, info: Any) -> LabelManager:
        """The labels a dataset declares (data.dataset.DatasetInfo): its dataset.json's regions, if any."""
        return cls._of(info.labels, info.ignore_label, info.regions, info.regions_class_order)

    @classmethod
    def _of(
        cls,
        labels: Mapping[str, int],
        ignore_label: int | None,
        region_sets: Mapping[str, Any] | None,
        order: list[int] | None,
    ) -> LabelManager:
        regions = {str(name): [int(v) for v in values] for name, values in region_sets.items()} if region_sets else None
        return cls(
            {str(k): int(v) for k, v in labels.items()},
            ignore_label,
            regions,
            [int(v) for v in order] if regions and order else None,
        )

    @property
    def has_regions(self) -> bool:
        return bool(self.region_sets)

    @property
    def num_classes(self) -> int:
        """Plain label values, background included."""
        return len(self.labels)

    @property
    def num_outputs(self) -> int:
        """Network output channels: one per region, or one per class."""
        return len(self.region_sets) if self.region_sets else len(self.labels)

    @property
    def activation(self) -> str:
        return "sigmoid" if self.has_regions else "softmax"

    @property
    def loss_regions(self) -> list[list[int]] | None:
        """The label values each output learns as one binary mask (regions), or None (plain labels)."""
        return [list(values) for values in self.region_sets.values()] if self.region_sets else None

    @property
    def background_outside_crop(self) -> bool:
        """Outside the cropped box softmax outputs are background (channel 0 is 1); regions are all absent (0)."""
        return not self.has_regions

    def probabilities(self, logits) -> np.ndarray:
        """(K, *spatial) logits (a torch tensor, or numpy for the onnxruntime backend) -> numpy probabilities."""
        if isinstance(logits, np.ndarray):
            return _numpy_probabilities(logits, self.has_regions)
        import torch

        return (torch.sigmoid(logits) if self.has_regions else torch.softmax(logits, 0)).numpy()

    def label_map(self, probabilities: np.ndarray) -> np.ndarray:
        """argmax over classes, or each region's value where its probability is >= 0.5, in region_order."""
        if self.has_regions:
            return labels_from_regions(probabilities, self.region_order or [])
        return argmax_labels(probabilities)

    def cascade_channels(self, label: np.ndarray, dtype=np.float32) -> np.ndarray:
        """A previous stage's label map as a cascade stage's extra input channels (0/1): its region masks, or
        one channel per foreground class."""
        if self.region_sets:
            return region_masks(label, list(self.region_sets.values())).astype(dtype)
        return one_hot_foreground(label, self.num_classes, dtype)

    def sampling_groups(self, class_locations: Mapping[int, np.ndarray]) -> dict[Any, np.ndarray]:
        """Foreground voxels to centre training patches on, by group: per class for plain labels (the cache's
        class locations as they are), per region for regions (the union of its values' locations), as nnU-Net
        samples a region and then one of its voxels. The ignore label is never a group."""
        if not self.region_sets:
            return {k: where for k, where in class_locations.items() if k != self.ignore_label}
        empty = np.zeros((0, 3), dtype=np.int64)
        return {
            name: np.concatenate([empty] + [class_locations[v] for v in values if v in class_locations])
            for name, values in self.region_sets.items()
        }

    def evaluation_entries(self) -> dict[str, Any]:
        """What evaluation scores, by name: each region's label values, or each class's value (background and
        the ignore label left out)."""
        if self.region_sets:
            return {name: list(values) for name, values in self.region_sets.items()}
        return {
            name: value
            for name, value in self.labels.items()
            if value not in (BACKGROUND, self.ignore_label) and name.lower() != IGNORE_LABEL_NAME
        }

    def uncertainty(self, probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """foreground_entropy of these outputs: over classes, or of each region."""
        return foreground_entropy(probabilities, labels, self.has_regions)


def label_manager(plans: Any) -> LabelManager:
    """The label manager of a plan (schema.plans.Plans)."""
    return LabelManager.from_plans(plans)


def argmax_labels(probabilities: np.ndarray) -> np.ndarray:
    """probabilities.argmax(0) one class at a time: numpy's argmax makes an int64 map (8 bytes a voxel, 800 MB
    for a 512x512x400 CT); this keeps the best probability so far and the label, first class winning ties."""
    labels = np.zeros(probabilities.shape[1:], dtype=np.uint8 if probabilities.shape[0] < 256 else np.int16)
    best = probabilities[0].copy()
    for channel in range(1, probabilities.shape[0]):
        better = probabilities[channel] > best
        labels[better] = channel
        np.maximum(best, probabilities[channel], out=best)
    return labels


def foreground_entropy(probabilities: np.ndarray, labels: np.ndarray, regions: bool) -> dict[str, float]:
    """Mean entropy inside the predicted foreground (0 = certain, 1 = uniform / p 0.5) and its volume: the
    normalised entropy over classes, or the binary entropy of each region."""
    foreground = labels > 0
    if not foreground.any():
        return {"mean_entropy_foreground": 0.0, "foreground_voxels": 0}
    if regions:
        p = np.clip(probabilities[:, foreground], 1e-6, 1 - 1e-6)
        entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2.0)
    else:
        p = np.clip(probabilities[:, foreground].astype(np.float32), 1e-8, 1.0)  # float16 log loses too much
        entropy = -(p * np.log(p)).sum(0) / np.log(probabilities.shape[0])
    return {"mean_entropy_foreground": float(entropy.mean()), "foreground_voxels": int(foreground.sum())}


def one_hot_foreground(label: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """(num_classes - 1, *spatial) 0/1 channels: how a cascade stage receives the previous prediction."""
    return np.stack([(label == k).astype(dtype) for k in range(1, num_classes)])


def _numpy_probabilities(logits: np.ndarray, regions: bool) -> np.ndarray:
    if regions:
        return 1 / (1 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(0, keepdims=True))  # no overflow: the largest exponent is 0
    return shifted / shifted.sum(0, keepdims=True)


__all__ = ["THRESHOLD", "LabelManager", "argmax_labels", "foreground_entropy", "label_manager", "one_hot_foreground"]
