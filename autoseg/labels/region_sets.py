"""Region-based labels (nnU-Net v2's semantics): a region is a set of label values trained as one binary mask.

BraTS is the classic case: the label maps hold necrosis 1, oedema 2, non-enhancing 3, enhancing 4, but what is
scored (and what a network learns best) are nested regions -- whole tumour {1,2,3,4}, tumour core {1,3,4},
enhancing tumour {4}. With regions the network has one sigmoid output per region, and a prediction goes back to a
label map by `regions_class_order`: region i writes label value order[i] where its probability is >= 0.5, later
regions overwriting earlier ones (so nested regions go from the largest to the smallest).

Where regions come from: dataset.json's "labels" mapping a name to a list of values (plus "regions_class_order"),
or a regions file given to `autoseg plan --regions FILE` / `autoseg evaluate --regions FILE`:
    {"labels": {"whole_tumour": [1, 2, 3, 4], "tumour_core": [1, 3, 4], "enhancing": [4]},
     "regions_class_order": [2, 1, 4]}
Both are checked by region_problems(); the conversions below work on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from autoseg.errors import AutosegError

REGIONS_EXAMPLE = (
    '{"labels": {"whole_tumour": [1, 2, 3, 4], "tumour_core": [1, 3, 4], "enhancing": [4]}, '
    '"regions_class_order": [2, 1, 4]}'
)
THRESHOLD = 0.5


def is_region_value(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def region_problems(
    regions: Mapping[str, Any], order: Any, declared: set[int] | None = None, ignore_label: int | None = None
) -> list[str]:
    """Everything wrong with a region definition, each a sentence with its fix.

    `declared`: the label values the label maps may hold (a dataset's plain labels); None when the regions are
    themselves the declaration (dataset.json with regions)."""
    problems = []
    if not regions:
        return [
            "no regions are defined: 'labels' must map each region name to a list of label values, e.g. "
            + REGIONS_EXAMPLE
        ]
    for name, values in regions.items():
        if not is_region_value(values) or not values:
            problems.append(f"region '{name}' must be a non-empty list of label values, found {values!r}")
            continue
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or v <= 0]
        if bad:
            problems.append(
                f"region '{name}' holds {bad}: region values are label values above 0 (background belongs to no region)"
            )
        elif ignore_label is not None and ignore_label in values:
            problems.append(
                f"region '{name}' holds the ignore label {ignore_label}; leave it out (its voxels are "
                "never trained or scored)"
            )
        elif declared is not None and set(values) - declared:
            problems.append(
                f"region '{name}' holds label values {sorted(set(values) - declared)} that the "
                f"dataset does not declare (its labels are {sorted(declared)}); use declared values"
            )
    if not isinstance(order, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in order):
        problems.append(
            "'regions_class_order' must be a list of integers, one per region: the label value each "
            "region writes when regions are turned back into a label map, e.g. " + REGIONS_EXAMPLE
        )
    elif len(order) != len(regions):
        problems.append(
            f"'regions_class_order' has {len(order)} entries for {len(regions)} regions; give one "
            "label value per region, in the order of 'labels'"
        )
    elif not problems:
        for (name, values), value in zip(regions.items(), order):
            if value not in values:
                problems.append(
                    f"'regions_class_order' gives region '{name}' the value {value}, which is not one of "
                    f"its values {list(values)}; a region must write one of its own values, else a "
                    "predicted label map would not contain the region it came from"
                )
    return problems


def load_regions_file(
    path: str | Path, declared: set[int], ignore_label: int | None = None
) -> tuple[dict[str, list[int]], list[int]]:
    """(regions, regions_class_order) from a regions JSON file, checked against the dataset's label values."""
    from autoseg.schema.load import validate_data
    from autoseg.schema.regions_file import RegionsFile
    from autoseg.utils.files import read_json

    data = read_json(path, "regions file")
    labels = data.get("labels") if isinstance(data, dict) else None
    if not isinstance(labels, dict):
        raise AutosegError(
            'a regions file must hold {"labels": {name: [values]}, "regions_class_order": [...]}',
            path,
            "write it like " + REGIONS_EXAMPLE,
        )
    # A background entry (name -> 0, as dataset.json has) is allowed and is no region.
    regions = {str(name): values for name, values in labels.items() if not (values == 0 or values == [0])}
    problems = region_problems(regions, data.get("regions_class_order"), declared, ignore_label)
    if problems:
        raise AutosegError("; ".join(problems), path, "correct the regions file, e.g. " + REGIONS_EXAMPLE)
    validate_data(data, RegionsFile, "regions file", path)  # bounds and types of what the checks above allow
    return {name: [int(v) for v in values] for name, values in regions.items()}, list(data["regions_class_order"])


def region_masks(label, regions: Sequence[Sequence[int]]):
    """(R, *spatial) boolean masks, one per region, of an integer label map (numpy array or torch tensor)."""
    masks = [_isin(label, values) for values in regions]
    if isinstance(label, np.ndarray):
        return np.stack(masks)
    import torch

    return torch.stack(masks, 0)


def batch_region_masks(target, regions: Sequence[Sequence[int]]):
    """(N, R, *spatial) float masks of a batch of label maps (N, *spatial) (torch)."""
    import torch

    return torch.stack([_isin(target, values) for values in regions], 1).float()


def labels_from_regions(probabilities: np.ndarray, order: Sequence[int], threshold: float = THRESHOLD) -> np.ndarray:
    """Label map from per-region probabilities (R, *spatial): each region writes its value where its probability
    is >= threshold, in order, later regions overwriting earlier ones (nnU-Net's rule)."""
    dtype = np.uint8 if max(order, default=0) < 256 else np.int16
    labels = np.zeros(probabilities.shape[1:], dtype=dtype)
    for channel, value in enumerate(order):
        labels[probabilities[channel] >= threshold] = value
    return labels


def region_values(regions: Mapping[str, Sequence[int]]) -> list[int]:
    """The label values some region holds."""
    return sorted({int(v) for values in regions.values() for v in values})


def _isin(label, values: Sequence[int]):
    if isinstance(label, np.ndarray):
        return np.isin(label, list(values))
    import torch

    return torch.isin(label, torch.as_tensor(list(values), device=label.device, dtype=label.dtype))
