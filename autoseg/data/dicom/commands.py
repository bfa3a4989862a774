"""The command-line side of DICOM (registered in autoseg/cli.py): `verify` on a folder of DICOM series and
`convert dicom`."""

from __future__ import annotations

import sys
from pathlib import Path


def is_dicom_folder(path: str | Path) -> bool:
    """A folder without dataset.json that holds DICOM series (what `verify` then reports per series)."""
    from autoseg.data.dicom.cases import is_dicom_input

    return not (Path(path) / "dataset.json").exists() and is_dicom_input(Path(path))


def verify(folder: str | Path) -> int:
    """Print one line per series (modality, slices, grid) and each problem's line; 1 when any series has one."""
    from autoseg.data.dicom.report import verify_dicom_folder

    reports = verify_dicom_folder(folder)
    problems = [line for report in reports for line in report.problems]
    for report in reports:
        print(report.line())
    for line in problems:
        print(line)
    images = sum(r.series.is_image for r in reports)
    if problems:
        print(f"{len(problems)} problem(s) in {images} image series", file=sys.stderr)
        return 1
    print(f"{folder}: OK ({images} image series)")
    return 0


def convert_args(p) -> None:
    p.add_argument("kind", choices=["dicom"], help="what to convert from: dicom (image series + DICOM-SEG)")
    p.add_argument("source", help="folder of the DICOM export (any file names, nested folders)")
    p.add_argument("-o", "--output", required=True, metavar="DatasetNNN_Name", help="new nnU-Net v2 dataset folder")


def convert(a) -> int:
    from autoseg.data.dicom.convert import convert_dicom

    result = convert_dicom(a.source, a.output)
    labels = ", ".join(f"{name} {value}" for name, value in result["labels"].items())
    print(f"{result['dataset']}: {result['training']} training case(s), {result['test']} test case(s); labels {labels}")
    return 0
