"""A raw dataset on disk (nnU-Net v2 or MSD layout) as a list of cases with their files.

load_dataset() only finds files; it does not open images. Per-case problems (a missing channel file, a label
that does not fit its image ...) are left for verify_dataset(), which reports them all at once. Problems that
make the dataset unusable as a whole (no dataset.json, no imagesTr) raise AutosegError at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from autoseg.data.dataset_json import NNUNET_V2, DatasetDescription, dataset_json_problems, describe_dataset
from autoseg.data.geometry import Geometry
from autoseg.data.image_io import read_image
from autoseg.data.naming import (
    COLOUR_ENDINGS,
    channel_file_name,
    group_channel_files,
    is_visible_image_file,
    parse_channel_file,
    split_ending,
)
from autoseg.errors import AutosegError
from autoseg.utils.files import read_json
from autoseg.utils.safe_names import check_case_id

FORMAT_HELP = (
    "see the nnU-Net v2 dataset format (channel_names, labels, numTraining, file_ending) or the "
    "Medical Segmentation Decathlon format (modality, labels, training)"
)


@dataclass
class Case:
    case_id: str
    image_files: list[Path]  # one per channel, or one 4D / RGB file holding all channels
    label_file: Path | None = None  # None when the case has no reference segmentation

    @property
    def file_ending(self) -> str:
        """Ending of the (first) image file: predictions are written in the input's format."""
        return split_ending(self.image_files[0])[1] if self.image_files else ""


@dataclass
class DatasetInfo:
    root: Path
    name: str
    layout: str  # "nnunet_v2" or "msd"
    channel_names: list[str]  # index = channel
    labels: dict[str, int]  # name -> value, background 0; consecutive values
    file_ending: str
    training: list[Case]
    test: list[Case]
    ignore_label: int | None = None  # nnU-Net v2 "ignore" label: voxels left out of training, not a class
    num_training_declared: int | None = None
    file_problems: list[str] = field(default_factory=list)  # files that fit no case, found while listing
    dataset_json: dict[str, Any] = field(default_factory=dict)
    regions: dict[str, list[int]] | None = None  # region-based labels (autoseg/labels/region_sets.py)
    regions_class_order: list[int] | None = None

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    @property
    def num_classes(self) -> int:
        """Classes including background."""
        return len(self.labels)

    @property
    def dataset_json_path(self) -> Path:
        return self.root / "dataset.json"


def load_dataset(path: str | Path) -> DatasetInfo:
    root = Path(path)
    if not root.is_dir():
        raise AutosegError("dataset folder not found", root, "pass the folder that holds dataset.json and imagesTr")
    json_path = root / "dataset.json"
    if not json_path.is_file():
        raise AutosegError("no dataset.json in the dataset folder", json_path, f"add one: {FORMAT_HELP}")
    data = read_json(json_path, "dataset.json")
    problems = dataset_json_problems(data)
    if problems:
        raise AutosegError("; ".join(problems), json_path, FORMAT_HELP)
    description = describe_dataset(data)
    images_dir = root / "imagesTr"
    if not images_dir.is_dir() and description.explicit_cases is None:
        raise AutosegError(
            "no imagesTr folder next to dataset.json",
            images_dir,
            "put the training images in imagesTr/ (and their labels in labelsTr/)",
        )
    info = DatasetInfo(
        root=root,
        name=description.name or root.name,
        layout=description.layout,
        channel_names=description.channel_names,
        labels=description.labels,
        file_ending=description.file_ending,
        training=[],
        test=[],
        ignore_label=description.ignore_label,
        num_training_declared=description.num_training,
        dataset_json=data,
        regions=description.regions,
        regions_class_order=description.regions_class_order,
    )
    if description.explicit_cases is not None:
        info.training = _explicit_cases(root, description.explicit_cases)
    elif description.layout == NNUNET_V2:
        info.training = _nnunet_training_cases(root, description, info.file_problems)
    else:
        info.training = [_msd_case(root, entry) for entry in description.training_entries]
    info.test = _test_cases(root, info)
    return info


def list_input_cases(source: str | Path | Sequence[str | Path], info: DatasetInfo) -> list[Case]:
    """Cases to predict from a folder (in the dataset's own naming) and/or explicit image files.

    Files named <case>_XXXX<ending> are channel files of one case; any other image file is a case by itself
    (MSD style: a single 3D/4D file, or an RGB picture).
    """
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    files: list[Path] = []
    for entry in map(Path, sources):
        if entry.is_dir():
            files += sorted(f for f in entry.iterdir() if is_visible_image_file(f))
        elif entry.is_file():
            files.append(entry)
        else:
            raise AutosegError("input not found", entry, "pass an existing folder or image file")
    if not files:
        raise AutosegError(
            "no image files in the input",
            sources[0] if sources else None,
            f"put the images there, named like {channel_file_name('case', 0, info.file_ending)}",
        )
    _refuse_name_clashes(files)
    cases = _cases_from_files(files, with_channel_suffix=_channel_suffix_applies(files, info))
    for case in cases:
        check_channel_files(case, info)
    return cases


def read_case(case: Case, info: DatasetInfo) -> tuple[np.ndarray, Geometry]:
    """The image of a case as float32 (C, Z, Y, X), checked to have the dataset's number of channels."""
    image, geometry = read_image(case.image_files, expected_channels=info.num_channels)
    if image.shape[0] != info.num_channels:
        raise AutosegError(
            channel_count_message(image.shape[0], case, info),
            case.image_files[0],
            "give every case the channels listed in dataset.json, in the same order",
        )
    return image, geometry


def channel_count_message(found: int, case: Case, info: DatasetInfo) -> str:
    key = "channel_names" if info.layout == NNUNET_V2 else "modality"
    present = {parsed[1] for parsed in map(parse_channel_file, (f.name for f in case.image_files)) if parsed}
    if present and found < info.num_channels:
        missing = [
            channel_file_name(case.case_id, c, case.file_ending) for c in range(info.num_channels) if c not in present
        ]
        return (
            f"case '{case.case_id}' holds {found} channel(s) but dataset.json '{key}' lists "
            f"{info.num_channels}: missing channel file(s) {', '.join(missing)}"
        )
    where = "on its 4th axis " if len(case.image_files) == 1 and found > 1 else ""
    return f"case '{case.case_id}' holds {found} channel(s) {where}but dataset.json '{key}' lists {info.num_channels}"


def _nnunet_training_cases(root: Path, description: DatasetDescription, file_problems: list[str]) -> list[Case]:
    ending = description.file_ending
    images = [f for f in sorted((root / "imagesTr").iterdir()) if _has_ending(f, ending)]
    grouped, unmatched = group_channel_files(images)
    for path in unmatched:
        stem = split_ending(path)[0]
        file_problems.append(
            str(
                AutosegError(
                    "image file name lacks the channel suffix _XXXX",
                    path,
                    f"rename it to {channel_file_name(stem, 0, ending)} (one file per channel: _0000, _0001, ...)",
                )
            )
        )
    labels_dir = root / "labelsTr"
    label_ids = (
        [split_ending(f)[0] for f in sorted(labels_dir.iterdir()) if _has_ending(f, ending)]
        if labels_dir.is_dir()
        else []
    )
    if not images:
        _explain_missing_ending(root / "imagesTr", ending, file_problems)
    case_ids = sorted(set(grouped) | set(label_ids))
    return [Case(case_id, grouped.get(case_id, []), labels_dir / f"{case_id}{ending}") for case_id in case_ids]


def _msd_case(root: Path, entry: dict[str, Any]) -> Case:
    # The case id taken from the entry names cache and prediction files, so it must be a plain name. The image
    # and label paths are only read (nnU-Net allows them anywhere), never written.
    image = root / entry["image"]
    case_id = check_case_id(split_ending(image)[0], root / "dataset.json")
    label = root / entry["label"]
    if not image.exists():
        # nnU-Net v1 kept the MSD dataset.json but stored channel files with a _0000 suffix.
        ending = split_ending(image)[1]
        grouped, _ = group_channel_files(
            [f for f in sorted(image.parent.glob(f"{case_id}_*{ending}")) if is_visible_image_file(f)]
        )
        if case_id in grouped:
            return Case(case_id, grouped[case_id], label)
    return Case(case_id, [image], label)


def _explicit_cases(root: Path, cases: dict[str, dict[str, Any]]) -> list[Case]:
    result = []
    source = root / "dataset.json"
    for case_id, entry in sorted(cases.items()):
        check_case_id(case_id, source)  # it names the case's cache and prediction files
        images = entry.get("images") if isinstance(entry, dict) else None
        if not isinstance(images, list) or not images:
            raise AutosegError(
                f"'dataset.{case_id}' must give \"images\": [one file per channel]", root / "dataset.json", FORMAT_HELP
            )
        label = entry.get("label")
        result.append(Case(case_id, [root / p for p in images], root / label if label else None))
    return result


def _test_cases(root: Path, info: DatasetInfo) -> list[Case]:
    images_dir = root / "imagesTs"
    if not images_dir.is_dir() or not any(is_visible_image_file(f) for f in images_dir.iterdir()):
        return []
    cases = list_input_cases(images_dir, info)
    labels_dir = root / "labelsTs"
    for case in cases:
        label = labels_dir / f"{case.case_id}{case.file_ending}"
        case.label_file = label if label.is_file() else None
    return cases


def _refuse_name_clashes(files: list[Path]) -> None:
    """Outputs are named after the case: two inputs that would give the same case or channel must not meet."""
    seen: dict[tuple[str, int], Path] = {}
    for path in files:
        key = parse_channel_file(path.name) or (split_ending(path)[0], -1)
        if key in seen and seen[key] != path:
            raise AutosegError(
                f"two inputs have the same name (also {seen[key]})",
                path,
                "rename one of them: predictions are named after the case",
            )
        seen[key] = path


def _cases_from_files(files: list[Path], with_channel_suffix: bool) -> list[Case]:
    grouped, unmatched = group_channel_files(files) if with_channel_suffix else ({}, files)
    cases = [Case(case_id, paths) for case_id, paths in grouped.items()]
    cases += [Case(split_ending(path)[0], [path]) for path in unmatched]
    return sorted(cases, key=lambda c: c.case_id)


def _channel_suffix_applies(files: list[Path], info: DatasetInfo) -> bool:
    """nnU-Net datasets name channel files _XXXX. MSD files carry no suffix, so there a _XXXX ending only means
    a channel when every file has one (the nnU-Net v1 naming); 'case_0001' alone is just a case name."""
    if info.layout == NNUNET_V2:
        return True
    return all(parse_channel_file(f.name) is not None for f in files)


def check_channel_files(case: Case, info: DatasetInfo) -> None:
    """A case given as several channel files needs exactly _0000 .. _{n-1}; one file may hold all channels.
    Raises AutosegError naming the first missing or unexpected file."""
    indices = [parsed[1] for parsed in map(parse_channel_file, (f.name for f in case.image_files)) if parsed]
    # One file may hold all channels: an MSD 4D volume (no suffix) or a colour picture; read_case checks.
    if (
        len(case.image_files) == 1
        and info.num_channels > 1
        and (not indices or (indices == [0] and case.file_ending.lower() in COLOUR_ENDINGS))
    ):
        return
    if len(indices) != len(case.image_files):
        return
    ending = case.file_ending
    for channel in range(info.num_channels):
        if channel not in indices:
            missing = case.image_files[0].parent / channel_file_name(case.case_id, channel, ending)
            raise AutosegError(
                f"missing channel file: dataset.json lists {info.num_channels} channels "
                f"({', '.join(info.channel_names)})",
                missing,
                "add the file, named <case>_XXXX with XXXX the channel index",
            )
    extra = [i for i in indices if i >= info.num_channels]
    if extra:
        path = case.image_files[indices.index(extra[0])]
        raise AutosegError(
            f"unexpected channel file: dataset.json lists only {info.num_channels} channel(s)",
            path,
            "remove it, or add the channel to dataset.json",
        )


def _has_ending(path: Path, ending: str) -> bool:
    return path.name.endswith(ending) and not path.name.startswith(".") and path.is_file()


def _explain_missing_ending(folder: Path, ending: str, file_problems: list[str]) -> None:
    other_endings = sorted({split_ending(f)[1] for f in folder.iterdir() if is_visible_image_file(f)})
    if other_endings:
        file_problems.append(
            str(
                AutosegError(
                    f"no files ending in '{ending}' (dataset.json file_ending), but files ending in {other_endings}",
                    folder,
                    "set file_ending in dataset.json to the ending your files have",
                )
            )
        )
