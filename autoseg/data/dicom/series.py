"""Image series in a folder: every DICOM file under it (any file name, nested folders), grouped by
SeriesInstanceUID. Files without the DICOM preamble ('DICM' at byte 128) are not DICOM and are skipped; a file
with the preamble that cannot be parsed is an error naming it.

Only headers are read here (pydicom, pixels skipped); pixels are read later by SimpleITK (reading.py).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.utils.safe_names import check_name, is_safe_name

# Objects that hold no image slices of their own (segmentations, structure sets, reports, presentation states).
NON_IMAGE_MODALITIES = {"SEG", "RTSTRUCT", "RTPLAN", "RTRECORD", "SR", "PR", "KO", "REG", "DOC"}
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_PREAMBLE_END = 132


@dataclass(frozen=True)
class DicomSlice:
    path: Path
    sop_instance_uid: str
    position: tuple[float, ...] | None  # ImagePositionPatient (mm), 3 values
    orientation: tuple[float, ...] | None  # ImageOrientationPatient: row then column direction
    rows: int
    columns: int
    pixel_spacing: tuple[float, ...] | None  # 2 values
    frames: int = 1
    instance_number: int | None = None


@dataclass
class DicomSeries:
    uid: str
    modality: str
    study_uid: str
    frame_of_reference_uid: str | None
    sop_class_uid: str
    patient_id: str
    series_number: int | None
    description: str
    slices: list[DicomSlice] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [s.path for s in self.slices]

    @property
    def folder(self) -> Path:
        """The deepest folder that holds every file of the series (what error messages name)."""
        return Path(os.path.commonpath([str(p.parent) for p in self.files])) if self.slices else Path(".")

    @property
    def is_image(self) -> bool:
        return self.modality not in NON_IMAGE_MODALITIES and self.sop_class_uid != SEG_SOP_CLASS

    @property
    def case_id(self) -> str:
        """The SeriesInstanceUID: unique, and no patient data in file names (PatientID would be). A UID that is
        not a plain file name (a non-conformant one with '/', spaces or over 128 characters) becomes
        'series-' and 20 hex digits of its sha256: still unique, never a path."""
        if is_safe_name(self.uid):
            return self.uid
        digest = hashlib.sha256(self.uid.encode("utf-8", "replace")).hexdigest()[:20]
        return check_name(f"series-{digest}", "case id", self.folder)

    def describe(self) -> str:
        return f"DICOM series {self.uid}"


def is_dicom_file(path: Path) -> bool:
    """A DICOM Part 10 file: 128 bytes of preamble, then 'DICM'."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_PREAMBLE_END)
    except OSError:
        return False
    return len(head) == _PREAMBLE_END and head[128:] == b"DICM"


def dicom_files(folder: Path) -> list[Path]:
    """Every DICOM file under `folder`, hidden files and folders left out, in a stable order."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        found += [Path(root) / f for f in sorted(files) if not f.startswith(".") and is_dicom_file(Path(root) / f)]
    return found


def holds_dicom(folder: Path) -> bool:
    """True when `folder` (a directory) has at least one DICOM file somewhere under it."""
    if not Path(folder).is_dir():
        return False
    for root, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")]
        if any(not f.startswith(".") and is_dicom_file(Path(root) / f) for f in files):
            return True
    return False


def find_series(folder: str | Path) -> list[DicomSeries]:
    """Every series under `folder` (image series and others such as SEG), ordered by SeriesInstanceUID."""
    series: dict[str, DicomSeries] = {}
    for path in dicom_files(Path(folder)):
        header = read_header(path)
        uid = str(header.get("SeriesInstanceUID", "") or "")
        if not uid:  # a DICOMDIR or other non-series object
            continue
        if uid not in series:
            series[uid] = _series_of(header, uid)
        series[uid].slices.append(_slice_of(header, path))
    return [series[uid] for uid in sorted(series)]


def image_series(folder: str | Path) -> list[DicomSeries]:
    return [s for s in find_series(folder) if s.is_image]


def read_header(path: Path, pixels: bool = False):
    """The pydicom dataset of one file (without its pixels unless asked); a damaged file is an error naming it."""
    pydicom = require_dicom_library()
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=not pixels)
    except Exception as error:  # noqa: BLE001 (pydicom raises many types for damaged files)
        raise AutosegError(
            f"cannot read DICOM file ({type(error).__name__}: {error})",
            path,
            "export the series again from its source, or remove the damaged file",
        ) from None


def require_dicom_library(name: str = "pydicom", purpose: str = "reading DICOM"):
    """pydicom or highdicom, imported when first needed; without the `dicom` extra, one line saying how to add it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise AutosegError(f"{purpose} needs {name}", fix='pip install "autoseg[dicom]"') from None


def _series_of(header, uid: str) -> DicomSeries:
    number = header.get("SeriesNumber")
    return DicomSeries(
        uid=uid,
        modality=str(header.get("Modality", "") or ""),
        study_uid=str(header.get("StudyInstanceUID", "") or ""),
        frame_of_reference_uid=str(header.get("FrameOfReferenceUID", "") or "") or None,
        sop_class_uid=str(header.get("SOPClassUID", "") or ""),
        patient_id=str(header.get("PatientID", "") or ""),
        series_number=int(number) if number not in (None, "") else None,
        description=str(header.get("SeriesDescription", "") or ""),
    )


def _slice_of(header, path: Path) -> DicomSlice:
    number = header.get("InstanceNumber")
    return DicomSlice(
        path=path,
        sop_instance_uid=str(header.get("SOPInstanceUID", "") or ""),
        position=_floats(header.get("ImagePositionPatient"), 3),
        orientation=_floats(header.get("ImageOrientationPatient"), 6),
        rows=int(header.get("Rows", 0) or 0),
        columns=int(header.get("Columns", 0) or 0),
        pixel_spacing=_floats(header.get("PixelSpacing"), 2),
        frames=int(header.get("NumberOfFrames", 1) or 1),
        instance_number=int(number) if number not in (None, "") else None,
    )


def _floats(value, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(np.isfinite(numbers)) else None
