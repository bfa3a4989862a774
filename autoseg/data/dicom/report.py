"""`autoseg verify FOLDER` on a folder of DICOM series: per series its modality, slices, spacing and problems
(missing or duplicate slices, uneven spacing, gantry tilt, mixed sizes: checks.py), one line each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autoseg.data.dicom.checks import series_problems
from autoseg.data.dicom.reading import read_series_image
from autoseg.data.dicom.series import DicomSeries, find_series
from autoseg.errors import AutosegError


@dataclass
class SeriesReport:
    series: DicomSeries
    spacing: tuple[float, ...] | None = None  # numpy order (z, y, x), mm
    shape: tuple[int, ...] | None = None  # numpy order (z, y, x)
    problems: list[str] = field(default_factory=list)  # one line each, naming the series and the fix

    def line(self) -> str:
        s = self.series
        if not s.is_image:
            kind = s.modality or s.sop_class_uid
            return f"{s.uid} ({s.folder}): {kind}, {len(s.slices)} file(s), not an image series"
        grid = (
            f", {self.shape[2]}x{self.shape[1]} pixels, spacing {_mm(self.spacing)} mm (z, y, x)" if self.shape else ""
        )
        status = "OK" if not self.problems else f"{len(self.problems)} problem(s)"
        named = f" '{s.description}'" if s.description else ""
        number = f" #{s.series_number}" if s.series_number is not None else ""
        return f"{s.uid} ({s.folder}): {s.modality}{number}{named}, {len(s.slices)} slice(s){grid}: {status}"


def verify_dicom_folder(folder: str | Path) -> list[SeriesReport]:
    """One report per series under `folder`; image series are checked and, when sound, read (to show ITK's grid
    and to find pixels GDCM cannot decode)."""
    folder = Path(folder)
    series = find_series(folder)
    if not series:
        raise AutosegError("no DICOM series in the folder", folder, "pass the folder of a DICOM export")
    return [_report(s) for s in series]


def _report(series: DicomSeries) -> SeriesReport:
    report = SeriesReport(series)
    if not series.is_image:
        return report
    report.problems = [
        str(AutosegError(f"{series.describe()}: {problem}", series.folder, fix))
        for problem, fix in series_problems(series)
    ]
    if not report.problems:
        try:
            image = read_series_image(series)
        except AutosegError as error:
            report.problems.append(str(error))
        else:
            report.spacing = tuple(float(v) for v in reversed(image.GetSpacing()))
            report.shape = tuple(int(v) for v in reversed(image.GetSize()))
    return report


def _mm(values) -> str:
    return " x ".join(f"{v:g}" for v in values)
