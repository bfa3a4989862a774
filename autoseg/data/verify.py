"""Integrity check of a raw dataset: every problem a user can make, each as one line naming the file and the fix.

Each case is read exactly once (image channels and label); what was learnt on the way (shape, spacing, label
values) is kept in the report so later stages need not read the files again just for that.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from autoseg.data.dataset import Case, DatasetInfo, channel_count_message, check_channel_files, load_dataset
from autoseg.data.dataset_json import NNUNET_V2, dataset_json_problems
from autoseg.data.image_io import read_image, read_label
from autoseg.data.integrity import check_file
from autoseg.data.naming import channel_file_name
from autoseg.errors import AutosegError
from autoseg.utils.files import read_json


@dataclass
class CaseSummary:
    case_id: str
    shape: tuple[int, int, int]  # numpy order, (1, Y, X) for 2D
    spacing: tuple[float, float, float]  # numpy order
    num_channels: int
    label_values: list[int]
    ndim: int = 3  # of the image file: 2 for a picture or a 2D file


@dataclass
class VerifyReport:
    dataset: Path
    problems: list[str] = field(default_factory=list)
    cases: dict[str, CaseSummary] = field(default_factory=dict)
    info: DatasetInfo | None = None  # None when dataset.json itself could not be used

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_problems(self) -> None:
        """One line: the first problem (it names its file and fix; later ones are often its consequences, such
        as every case missing after a wrong file_ending), and how many more `autoseg verify` lists."""
        if self.ok:
            return
        more = len(self.problems) - 1
        tail = (
            f" [1 of {len(self.problems)} problems; ... and {more} more: 'autoseg verify {self.dataset}' "
            "lists them all]"
            if more
            else ""
        )
        raise AutosegError(self.problems[0] + tail)


def verify_dataset(
    path_or_info: str | Path | DatasetInfo, *, max_workers: int = 1, progress: bool = True
) -> VerifyReport:
    if isinstance(path_or_info, DatasetInfo):
        info = path_or_info
    else:
        root = Path(path_or_info)
        if not root.is_dir():  # nothing to list problems of: one error, as for any missing input
            raise AutosegError("dataset folder not found", root, "pass the folder that holds dataset.json and imagesTr")
        json_problems = _dataset_json_problems(root)
        if json_problems:
            return VerifyReport(root, json_problems)
        try:
            info = load_dataset(root)
        except AutosegError as error:
            return VerifyReport(root, [str(error)])
    report = VerifyReport(info.root, list(info.file_problems), info=info)
    report.problems += _dataset_level_problems(info)
    for problems, summary in _check_all(info, max_workers, progress):
        report.problems += problems
        if summary is not None:
            report.cases[summary.case_id] = summary
    report.problems += _mixed_dimension_problems(report.cases, info)
    return report


def check_case(case: Case, info: DatasetInfo) -> tuple[list[str], CaseSummary | None]:
    """Problems of one training case, and its summary when its image could be read."""
    image_files = case.image_files or [_expected_channel_file(case, info, 0)]
    problems = _image_file_problems(case, info, image_files)
    image = geometry = None
    if not problems:
        problems += _integrity_problems(image_files)
    if not problems:
        try:
            image, geometry = read_image(image_files, expected_channels=info.num_channels)
        except AutosegError as error:
            problems.append(str(error))
    if image is not None:
        if image.shape[0] != info.num_channels:
            problems.append(
                _line(
                    channel_count_message(image.shape[0], case, info),
                    image_files[0],
                    "give every case the channels listed in dataset.json, in the same order",
                )
            )
        problems += _non_finite_problems(image, image_files)
    label_values: list[int] = []
    if case.label_file is None:
        # Only the nnU-Net v2 "dataset" key can list a case without a label; training needs one for every case.
        problems.append(
            _line(
                f"training case '{case.case_id}' has no \"label\"",
                info.dataset_json_path,
                f"add \"label\" to dataset.json 'dataset.{case.case_id}', or remove the case",
            )
        )
    else:
        label_values, label_problems = _label_problems(case.label_file, geometry, image_files[0], info)
        problems += label_problems
    if image is None:
        return problems, None
    summary = CaseSummary(
        case.case_id, geometry.shape, geometry.spacing, int(image.shape[0]), label_values, geometry.ndim
    )
    return problems, summary


def _integrity_problems(files: list[Path]) -> list[str]:
    """Files cut short or with damaged compression: read in full here, as nothing later would notice."""
    problems = []
    for path in files:
        try:
            check_file(path, full=True)
        except AutosegError as error:
            problems.append(str(error))
    return problems


def _mixed_dimension_problems(cases: dict[str, CaseSummary], info: DatasetInfo) -> list[str]:
    """2D cases (a 2D file, or a 3D file of one slice) in a dataset of volumes would train as 1-slice volumes."""
    flat = sorted(c.case_id for c in cases.values() if c.ndim == 2 or c.shape[0] == 1)
    volumes = sorted(c.case_id for c in cases.values() if c.ndim == 3 and c.shape[0] > 1)
    if not flat or not volumes:
        return []
    odd, other = (flat, "3D volumes") if len(flat) <= len(volumes) else (volumes, "2D images")
    kind = "2D (or single-slice)" if odd is flat else "3D"
    by_id = {c.case_id: c for c in info.training}
    first = by_id[odd[0]].image_files[0] if odd[0] in by_id and by_id[odd[0]].image_files else info.root
    shown = ", ".join(f"{c} {list(cases[c].shape)}" for c in odd[:5]) + (
        f" and {len(odd) - 5} more" if len(odd) > 5 else ""
    )
    return [
        _line(
            f"{len(odd)} {kind} case(s) in a dataset of {len(cases) - len(odd)} {other}: {shown}",
            first,
            f"give every case the same number of dimensions: re-export {'them' if len(odd) > 1 else 'it'} "
            f"like the others, or remove {'them' if len(odd) > 1 else 'it'} from the dataset",
        )
    ]


def _image_file_problems(case: Case, info: DatasetInfo, image_files: list[Path]) -> list[str]:
    """Absent image files, or channel files that are missing or surplus; empty when the image can be read."""
    absent = [f for f in image_files if not f.is_file()]
    if absent:
        what = "missing image file" if case.image_files else "missing channel file (the case has a label but no image)"
        return [_line(what, path, "add the image or remove the case") for path in absent]
    try:
        check_channel_files(case, info)
    except AutosegError as error:
        return [str(error)]
    return []


def _dataset_json_problems(root: Path) -> list[str]:
    json_path = root / "dataset.json"
    if not root.is_dir() or not json_path.is_file():
        return []  # load_dataset says which of the two is missing
    try:
        data = read_json(json_path, "dataset.json")
    except AutosegError as error:
        return [str(error)]
    return [_line(problem, json_path, None) for problem in dataset_json_problems(data)]


def _dataset_level_problems(info: DatasetInfo) -> list[str]:
    problems = []
    if not info.training:
        problems.append(
            _line(
                "dataset has no training cases",
                info.root / "imagesTr",
                f"put images named like {channel_file_name('case_001', 0, info.file_ending)} "
                "in imagesTr/ and their labels in labelsTr/"
                if info.layout == NNUNET_V2
                else "list the cases in dataset.json 'training'",
            )
        )
    declared = info.num_training_declared
    if declared is not None and declared != len(info.training):
        problems.append(
            _line(
                f"numTraining is {declared} but {len(info.training)} training cases were found",
                info.dataset_json_path,
                f"set numTraining to {len(info.training)} or add the missing cases",
            )
        )
    return problems


def _check_all(info: DatasetInfo, max_workers: int, progress: bool):
    bar = dict(total=len(info.training), desc="verify", unit="case", disable=not progress or not info.training)
    if max_workers <= 1 or len(info.training) < 2:
        yield from tqdm((check_case(case, info) for case in info.training), **bar)
        return
    with ProcessPoolExecutor(max_workers=max_workers) as pool:
        chunk = max(1, len(info.training) // (8 * max_workers))
        yield from tqdm(pool.map(check_case, info.training, [info] * len(info.training), chunksize=chunk), **bar)


def _label_problems(label_file: Path, geometry, image_file: Path, info: DatasetInfo) -> tuple[list[int], list[str]]:
    if not label_file.is_file():
        return [], [_line("missing label file", label_file, "add the label map of this case, or remove the case")]
    try:
        check_file(label_file, full=True)
        label, label_geometry = read_label(label_file)
    except AutosegError as error:
        return [], [str(error)]
    problems = []
    if geometry is not None:
        if label_geometry.shape != geometry.shape or label_geometry.ndim != geometry.ndim:
            problems.append(
                _line(
                    f"label shape {label_geometry.shape} differs from image shape {geometry.shape} ({image_file.name})",
                    label_file,
                    "the label map must be on the same voxel grid as its image",
                )
            )
        elif (difference := geometry.mismatch(label_geometry)) is not None:
            problems.append(
                _line(
                    f"label geometry differs from its image {image_file.name}: {difference}",
                    label_file,
                    "store the label with the spacing, origin and direction of its image",
                )
            )
    values = _present_values(label)
    allowed = set(info.labels.values()) | ({info.ignore_label} if info.ignore_label is not None else set())
    unknown = [v for v in values if v not in allowed]
    if unknown:
        problems.append(
            _line(
                f"label values {unknown} are not in dataset.json 'labels' {info.labels}",
                label_file,
                "add those classes to dataset.json or correct the label map",
            )
        )
    return values, problems


def _non_finite_problems(image: np.ndarray, files: list[Path]) -> list[str]:
    bad_channels = [c for c in range(image.shape[0]) if not np.isfinite(image[c]).all()]
    problems = []
    for channel in bad_channels:
        path = files[channel] if len(files) == image.shape[0] else files[0]
        problems.append(
            _line(
                f"image contains NaN or Inf values (channel {channel})",
                path,
                "replace them with finite numbers (e.g. the image minimum) before training",
            )
        )
    return problems


def _present_values(label: np.ndarray) -> list[int]:
    if label.dtype == np.uint8:  # bincount is much faster than unique for small non-negative integers
        return [int(v) for v in np.flatnonzero(np.bincount(label.ravel(), minlength=1))]
    return [int(v) for v in np.unique(label)]


def _expected_channel_file(case: Case, info: DatasetInfo, channel: int) -> Path:
    return info.root / "imagesTr" / channel_file_name(case.case_id, channel, info.file_ending)


def _line(message: str, path: Path | None, fix: str | None) -> str:
    return str(AutosegError(message, path, fix))
