"""A folder of DICOM series as cases to predict.

One channel (most models): every image series under the folder is a case, any file names, nested folders
allowed; the case id is its SeriesInstanceUID (unique, and free of patient data, which PatientID is not).

Several channels: one sub-folder per case, holding one sub-folder per channel named by the channel index
(0, 1, ... or 0000, 0001, ...), each holding exactly one image series:

    INPUT/patient_a/0/...   (channel 0, e.g. T1: any DICOM files, nested folders allowed)
    INPUT/patient_a/1/...   (channel 1, e.g. T2)

The case id is then the case folder's name. This layout works for one channel too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoseg.data.dataset import Case, DatasetInfo, list_input_cases, read_case
from autoseg.data.dicom.checks import check_series
from autoseg.data.dicom.reading import read_channels
from autoseg.data.dicom.series import DicomSeries, holds_dicom, image_series
from autoseg.data.geometry import Geometry
from autoseg.data.naming import is_visible_image_file
from autoseg.errors import AutosegError
from autoseg.utils.safe_names import check_name

PREDICTION_ENDING = ".nii.gz"  # a DICOM case's label map is written as NIfTI (or DICOM-SEG: inference/dicom_seg.py)


@dataclass
class DicomCase(Case):
    channels: list[DicomSeries] = field(default_factory=list)  # one series per channel, in channel order

    @property
    def file_ending(self) -> str:
        return PREDICTION_ENDING

    @property
    def reference_series(self) -> DicomSeries:
        """The series a DICOM-SEG of this case refers to: channel 0 (every channel shares its grid)."""
        return self.channels[0]


def is_dicom_input(path: Path) -> bool:
    """A folder with no image files of the supported endings at its top, and DICOM files under it."""
    path = Path(path)
    return path.is_dir() and not any(is_visible_image_file(f) for f in path.iterdir()) and holds_dicom(path)


def input_cases(source: str | Path | Sequence[str | Path], info: DatasetInfo) -> list[Case]:
    """Cases from image files or folders (dataset.list_input_cases) and from folders of DICOM series."""
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    dicom = [Path(s) for s in sources if is_dicom_input(Path(s))]
    others = [s for s in sources if Path(s) not in dicom]
    cases: list[Case] = list_input_cases(others, info) if others else []
    for folder in dicom:
        cases += dicom_cases(folder, info.channel_names)
    for case in cases:
        for series in getattr(case, "channels", []):
            check_series(series)  # a broken series is refused before any model loads, not after hours of others
    _refuse_duplicate_ids(cases)
    return sorted(cases, key=lambda c: c.case_id)


def read_input_case(case: Case, info: DatasetInfo) -> tuple[np.ndarray, Geometry]:
    """float32 (C, Z, Y, X) and geometry of a case of either kind."""
    if isinstance(case, DicomCase):
        return read_channels(case.channels)
    return read_case(case, info)


def dicom_cases(folder: str | Path, channel_names: Sequence[str]) -> list[DicomCase]:
    folder = Path(folder)
    if _has_channel_folders(folder):
        return [_channel_folder_case(case_folder, channel_names) for case_folder in _subfolders(folder)]
    if len(channel_names) > 1:
        raise AutosegError(
            f"the model takes {len(channel_names)} channels ({', '.join(channel_names)}) but the "
            "folder's DICOM series are not arranged per channel",
            folder,
            "put each case's series in FOLDER/<case>/<channel index>/ (0 = "
            f"{channel_names[0]}, 1 = {channel_names[1]} ...), one series per channel folder",
        )
    series = image_series(folder)
    if not series:
        raise AutosegError(
            "no DICOM image series in the folder (only non-image objects such as SEG or RTSTRUCT)",
            folder,
            "export the image series themselves from the PACS",
        )
    return [DicomCase(s.case_id, s.files, channels=[s]) for s in series]


def _channel_folder_case(case_folder: Path, channel_names: Sequence[str]) -> DicomCase:
    case_id = check_name(case_folder.name, "case folder name", case_folder)
    expected = {str(c) for c in range(len(channel_names))} | {f"{c:04d}" for c in range(len(channel_names))}
    extra = [f for f in _subfolders(case_folder) if f.name not in expected]
    if extra:
        raise AutosegError(
            f"unexpected channel folder: the model takes {len(channel_names)} channel(s) ({', '.join(channel_names)})",
            extra[0],
            "name channel folders 0, 1, ... and remove any other folder from the case folder",
        )
    channels = []
    for index, name in enumerate(channel_names):
        channel_folder = next(
            (case_folder / n for n in (str(index), f"{index:04d}") if (case_folder / n).is_dir()),
            case_folder / str(index),
        )
        series = image_series(channel_folder) if channel_folder.is_dir() else []
        if len(series) != 1:
            found = "no image series" if not series else f"{len(series)} image series"
            raise AutosegError(
                f"case '{case_id}' channel {index} ({name}): {found} in the channel folder",
                channel_folder,
                "put exactly one DICOM image series in each channel folder",
            )
        channels.append(series[0])
    return DicomCase(case_id, [f for s in channels for f in s.files], channels=channels)


def _has_channel_folders(folder: Path) -> bool:
    return any((sub / "0").is_dir() or (sub / "0000").is_dir() for sub in _subfolders(folder))


def _subfolders(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_dir() and not f.name.startswith("."))


def _refuse_duplicate_ids(cases: list[Case]) -> None:
    seen: dict[str, Case] = {}
    for case in cases:
        if case.case_id in seen:
            raise AutosegError(
                f"two inputs give the same case id '{case.case_id}' (also {seen[case.case_id].image_files[0]})",
                case.image_files[0],
                "pass each series once: predictions are named after the case",
            )
        seen[case.case_id] = case


def series_folder_arrays(folder: Path, channel_names: Sequence[str]) -> tuple[np.ndarray, Geometry]:
    """float32 (C, Z, Y, X) and geometry of the one case a folder holds (autoseg.Predictor.predict(folder))."""
    if not holds_dicom(folder):
        raise AutosegError(
            "no DICOM files in the folder",
            folder,
            "pass a folder holding one DICOM series (one "
            "sub-folder per channel, named 0, 1, ... for a model with several channels)",
        )
    is_case_folder = (folder / "0").is_dir() or (folder / "0000").is_dir()
    cases = [_channel_folder_case(folder, channel_names)] if is_case_folder else dicom_cases(folder, channel_names)
    if len(cases) != 1:
        raise AutosegError(
            f"the folder holds {len(cases)} cases ({', '.join(c.case_id for c in cases[:3])} ...); "
            "Predictor.predict segments one",
            folder,
            "pass the folder of one series, or use autoseg.predict / `autoseg predict -i FOLDER` for many",
        )
    return read_channels(cases[0].channels)
