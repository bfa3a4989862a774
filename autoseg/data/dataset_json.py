"""dataset.json in either layout users have: nnU-Net v2 raw, or the Medical Segmentation Decathlon (MSD).

nnU-Net v2: {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1}, "numTraining": N,
             "file_ending": ".nii.gz"}  (+ optional "dataset": {case: {"images": [...], "label": ...}})
MSD:        {"modality": {"0": "MRI"}, "labels": {"0": "background", "1": "liver"}, "numTraining": N,
             "training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}], ...}
Region-based labels (nnU-Net v2 layout only): "labels": {"background": 0, "whole_tumour": [1, 2, 3, 4], ...}
with "regions_class_order" (see autoseg/labels/region_sets.py); `labels` then holds the plain values the label maps
use and `regions` the regions.
Both are reduced to one DatasetDescription; problems are collected, each a sentence with its fix, so verify can
list them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoseg.data.naming import split_ending
from autoseg.errors import AutosegError
from autoseg.labels.region_sets import is_region_value, region_problems
from autoseg.schema.dataset_file import DatasetJsonFile
from autoseg.schema.load import validate_data

NNUNET_V2 = "nnunet_v2"
MSD = "msd"

# nnU-Net v2 marks voxels to leave out of the loss with a label named "ignore"; it is not a class.
IGNORE_LABEL_NAME = "ignore"


@dataclass
class DatasetDescription:
    layout: str
    name: str
    channel_names: list[str]
    labels: dict[str, int]  # name -> value, background 0, classes only
    ignore_label: int | None
    file_ending: str
    num_training: int | None  # as declared
    training_entries: list[dict[str, Any]] = field(default_factory=list)  # MSD "training" list
    explicit_cases: dict[str, dict[str, Any]] | None = None  # nnU-Net v2 "dataset" key
    regions: dict[str, list[int]] | None = None  # region name -> label values (region-based labels)
    regions_class_order: list[int] | None = None  # the value each region writes back into a label map


def dataset_json_problems(data: Any) -> list[str]:
    """Everything wrong with a parsed dataset.json, each as one sentence that says what to do."""
    if not isinstance(data, dict):
        return ["dataset.json must hold a JSON object (a dict of fields)"]
    layout = detect_layout(data)
    if layout is None:
        return [
            "dataset.json has neither 'channel_names' (nnU-Net v2 layout) nor 'modality' (MSD layout); "
            'add the one that describes your image channels, e.g. "channel_names": {"0": "CT"}'
        ]
    problems = _channel_problems(data, "channel_names" if layout == NNUNET_V2 else "modality")
    label_values, label_problems = _label_values(data, layout)
    problems += label_problems
    problems += _consecutive_label_problems(label_values)
    problems += _ignore_label_problems(label_values)
    count = data.get("numTraining")
    if (not isinstance(count, int) or isinstance(count, bool)) and (layout == NNUNET_V2 or "numTraining" in data):
        problems.append("'numTraining' must be an integer: the number of training cases")
    if layout == NNUNET_V2:
        ending = data.get("file_ending")
        if not isinstance(ending, str) or not ending.startswith("."):
            problems.append(
                "'file_ending' is missing or invalid; add the ending of your image files, "
                'e.g. "file_ending": ".nii.gz"'
            )
    else:
        problems += _training_list_problems(data.get("training"))
    return problems or _schema_problems(data)


def _schema_problems(data: dict[str, Any]) -> list[str]:
    """What the declared schema (autoseg/schema/dataset_file.py) finds once the checks above pass: types,
    bounds, and case ids that are not plain names."""
    try:
        validate_data(data, DatasetJsonFile, "dataset.json", "dataset.json")  # the caller names the full path
    except AutosegError as error:
        return [error.problem]
    return []


def detect_layout(data: dict[str, Any]) -> str | None:
    if "channel_names" in data:
        return NNUNET_V2
    if "modality" in data:
        return MSD
    return None


def describe_dataset(data: dict[str, Any]) -> DatasetDescription:
    """The description of a dataset.json for which dataset_json_problems() found nothing."""
    layout = detect_layout(data)
    channels_key = "channel_names" if layout == NNUNET_V2 else "modality"
    channel_names = [str(name) for _, name in sorted(data[channels_key].items(), key=lambda kv: int(kv[0]))]
    named_values, _ = _label_values(data, layout)
    labels = {name: value for name, value in named_values if name.lower() != IGNORE_LABEL_NAME}
    regions = _regions(data) if layout == NNUNET_V2 else None
    ignore = [value for name, value in named_values if name.lower() == IGNORE_LABEL_NAME]
    training = data.get("training") or []
    if layout == NNUNET_V2:
        file_ending = data["file_ending"]
    else:
        file_ending = split_ending(training[0]["image"])[1] if training else ".nii.gz"
    return DatasetDescription(
        layout=layout,
        name=str(data.get("name", "")),
        channel_names=channel_names,
        labels=dict(sorted(labels.items(), key=lambda kv: kv[1])),
        ignore_label=ignore[0] if ignore else None,
        file_ending=file_ending,
        num_training=data.get("numTraining"),
        training_entries=list(training) if layout == MSD else [],
        explicit_cases=data.get("dataset") if layout == NNUNET_V2 else None,
        regions=regions,
        regions_class_order=list(data["regions_class_order"]) if regions else None,
    )


def _channel_problems(data: dict[str, Any], key: str) -> list[str]:
    channels = data.get(key)
    if not isinstance(channels, dict) or not channels:
        return [f'\'{key}\' must map channel indices to names, e.g. {{"0": "MRI"}}']
    if not all(isinstance(k, str) and k.isdigit() for k in channels):
        return [f'the keys of \'{key}\' must be channel indices "0", "1", ...; found {sorted(channels)}']
    if sorted(int(k) for k in channels) != list(range(len(channels))):
        return [f"'{key}' must number the channels 0..{len(channels) - 1} without gaps; found {sorted(channels)}"]
    return []


def _label_values(data: dict[str, Any], layout: str) -> tuple[list[tuple[str, int]], list[str]]:
    """[(name, value)] and the problems met while reading 'labels'. With regions, the pairs are the plain label
    values the label maps hold (background, every value some region holds, the ignore label)."""
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        example = '{"background": 0, "tumour": 1}' if layout == NNUNET_V2 else '{"0": "background", "1": "tumour"}'
        return [], [f"'labels' must list the classes, e.g. {example}"]
    if layout == NNUNET_V2 and any(is_region_value(v) for v in labels.values()):
        return _region_label_values(data)
    pairs, problems = [], []
    for key, value in labels.items():
        if layout == NNUNET_V2:
            name, raw_value = key, value
        else:
            name, raw_value = value, key
        if is_region_value(raw_value):
            problems.append(
                f"label '{name}' is a region (list of values); regions need the nnU-Net v2 layout "
                '("channel_names", "labels": {name: [values]}, "regions_class_order")'
            )
            continue
        value_int = _as_int(raw_value)
        if value_int is None or value_int < 0:
            where = f"value of label '{name}'" if layout == NNUNET_V2 else f"key \"{raw_value}\" of 'labels'"
            problems.append(f"the {where} must be a non-negative integer, found {raw_value!r}")
            continue
        pairs.append((str(name), value_int))
    return pairs, problems


def _regions(data: dict[str, Any]) -> dict[str, list[int]] | None:
    """Region name -> values, when 'labels' defines regions (nnU-Net v2: a plain value other than background
    and the ignore label is then a region of that one value)."""
    labels = data.get("labels") or {}
    if not any(is_region_value(v) for v in labels.values()):
        return None
    return {
        str(name): [int(v) for v in value] if is_region_value(value) else [int(value)]
        for name, value in labels.items()
        if str(name).lower() != IGNORE_LABEL_NAME and not (not is_region_value(value) and value == 0)
    }


def _region_label_values(data: dict[str, Any]) -> tuple[list[tuple[str, int]], list[str]]:
    labels = data["labels"]
    ignore = [_as_int(v) for name, v in labels.items() if str(name).lower() == IGNORE_LABEL_NAME]
    ignore_label = ignore[0] if ignore and ignore[0] is not None else None
    raw = {
        str(name): value if is_region_value(value) else [_as_int(value)]
        for name, value in labels.items()
        if str(name).lower() != IGNORE_LABEL_NAME and not (not is_region_value(value) and _as_int(value) == 0)
    }
    problems = region_problems(raw, data.get("regions_class_order"), None, ignore_label)
    if problems:
        return [], problems
    regions = _regions(data)
    single = {values[0]: name for name, values in regions.items() if len(values) == 1}
    values = sorted({v for vals in regions.values() for v in vals})
    pairs = [("background", 0)] + [(single.get(v, f"label_{v}"), v) for v in values]
    pairs += [(IGNORE_LABEL_NAME, ignore_label)] if ignore_label is not None else []
    return pairs, []


def _consecutive_label_problems(pairs: list[tuple[str, int]]) -> list[str]:
    if not pairs:
        return []
    values = [value for name, value in pairs if name.lower() != IGNORE_LABEL_NAME]
    if len(set(values)) != len(values):
        return [f"two labels share one value in 'labels' ({sorted(values)}); give each class its own value"]
    if 0 not in values:
        return ["'labels' has no background with value 0; add it (e.g. \"background\": 0)"]
    if sorted(values) != list(range(len(values))):
        return [
            f"label values must be consecutive 0..{len(values) - 1}, found {sorted(values)}; renumber the "
            "classes in dataset.json and in the label files"
        ]
    return []


def _ignore_label_problems(pairs: list[tuple[str, int]]) -> list[str]:
    """nnU-Net's rule: the ignore label has the largest value, so class values stay 0..n-1 and the ignore value
    cannot be mistaken for a class."""
    ignore = [value for name, value in pairs if name.lower() == IGNORE_LABEL_NAME]
    classes = [value for name, value in pairs if name.lower() != IGNORE_LABEL_NAME]
    if len(ignore) > 1:
        return [f"'labels' has {len(ignore)} entries named \"ignore\"; keep one"]
    if ignore and classes and ignore[0] <= max(classes):
        return [
            f"the ignore label ({ignore[0]}) must have the largest value in 'labels' (the classes go up to "
            f"{max(classes)}); give it a value above {max(classes)}, e.g. {max(classes) + 1}, in dataset.json "
            "and in the label files"
        ]
    return []


def _training_list_problems(training: Any) -> list[str]:
    if not isinstance(training, list):
        return [
            '\'training\' must be a list of {"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"} entries'
        ]
    for index, entry in enumerate(training):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("image"), str)
            or not isinstance(entry.get("label"), str)
        ):
            return [
                f'\'training\' entry {index} must be {{"image": "./imagesTr/x.nii.gz", '
                f'"label": "./labelsTr/x.nii.gz"}}, found {entry!r}'
            ]
    return []


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
