"""What `autoseg predict --output-format` writes per case: "nifti" (the default: the label map in the input's own
format, NIfTI for DICOM input), "dicom-seg" (a DICOM Segmentation, inference/dicom_seg.py; DICOM input only),
or "both"."""

from __future__ import annotations

from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np

from autoseg.data.dicom.cases import DicomCase
from autoseg.data.geometry import Geometry
from autoseg.data.image_io import write_label
from autoseg.errors import AutosegError
from autoseg.inference.dicom_seg import SEG_ENDING, DicomSegWriter
from autoseg.schema.plans import Plans

OUTPUT_FORMATS = ("nifti", "dicom-seg", "both")


def check_output_format(output_format: str, cases) -> None:
    """Before anything is predicted: a known format, and DICOM input for a DICOM-SEG (it references its series)."""
    if output_format not in OUTPUT_FORMATS:
        raise AutosegError(
            f"unknown output format '{output_format}'", fix="pass --output-format nifti, dicom-seg or both"
        )
    others = [c for c in cases if not isinstance(c, DicomCase)]
    if output_format != "nifti" and others:
        raise AutosegError(
            f"--output-format {output_format} needs DICOM input: a DICOM-SEG refers to the DICOM "
            f"series it segments, and case '{others[0].case_id}' is not one",
            others[0].image_files[0] if others[0].image_files else None,
            "pass a folder of DICOM series, or --output-format nifti",
        )


def output_files(case, output: Path, output_format: str = "nifti") -> list[Path]:
    """The label files one case gets (probabilities not included)."""
    files = []
    if output_format in ("nifti", "both"):
        files.append(output / f"{case.case_id}{case.file_ending}")
    if output_format in ("dicom-seg", "both"):
        files.append(output / f"{case.case_id}{SEG_ENDING}")
    return files


def seg_writer(output_format: str, plans: Plans, model_folder: Path) -> DicomSegWriter | None:
    return None if output_format == "nifti" else DicomSegWriter.for_model(plans, model_folder)


def submit_label_writes(
    pool: Executor,
    seg: np.ndarray,
    geometry: Geometry,
    case,
    output: Path,
    *,
    output_format: str,
    writer: DicomSegWriter | None,
) -> list[Future]:
    """Start writing one case's label files; the caller waits on the returned futures."""
    jobs = []
    labels = seg if geometry.ndim == 3 else seg[0]
    for path in output_files(case, output, output_format):
        if path.name.endswith(SEG_ENDING):
            if writer is None or not isinstance(case, DicomCase):
                raise ValueError("a DICOM-SEG needs seg_writer() and a DICOM case (check_output_format)")
            jobs.append(pool.submit(writer.write, seg, case.reference_series, path))
        else:
            jobs.append(pool.submit(write_label, labels, geometry, path))
    return jobs
