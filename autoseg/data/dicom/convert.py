"""`autoseg convert dicom SRC -o DatasetNNN_Name`: DICOM image series with DICOM-SEG annotations -> an nnU-Net v2
dataset that `autoseg verify` accepts and `autoseg plan` plans.

- Every SEG is matched to its source series through ReferencedSeriesSequence (a SEG whose series is not in SRC,
  or two SEGs for one series, is an error naming them).
- imagesTr/<case>_0000.nii.gz and labelsTr/<case>.nii.gz, the case id being the SeriesInstanceUID (as for
  `predict`); image series without a SEG go to imagesTs/.
- Labels are named by the SEGs' segment labels; every name gets one value across all cases (alphabetical order,
  1, 2, ...), so a class keeps its value whichever segment number it has in each SEG.
- An unannotated series that is not one even stack (a localizer, say) is left out and reported.
- dicom_sources.json records which series and SEG each case came from.
RTSTRUCT annotations are not converted (no maintained RTSTRUCT library is a dependency): convert them to
DICOM-SEG first (e.g. with 3D Slicer or dcmqi).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from autoseg.data.dicom.checks import series_problems
from autoseg.data.dicom.reading import read_series
from autoseg.data.dicom.segmentations import SegAnnotation, find_annotations, label_map
from autoseg.data.dicom.series import DicomSeries, find_series
from autoseg.data.image_io import write_image, write_label
from autoseg.errors import AutosegError
from autoseg.utils.files import write_json
from autoseg.utils.logs import get_logger
from autoseg.utils.safe_names import check_name

log = get_logger("convert")

ENDING = ".nii.gz"


def convert_dicom(source: str | Path, output: str | Path) -> dict[str, Any]:
    """Write the dataset into `output` (a new folder; nothing is written there unless every case converts)."""
    source, output = Path(source), Path(output)
    check_name(output.name, "dataset folder name")
    if output.exists():
        raise AutosegError("output already exists", output, "choose a new dataset folder (or delete this one)")
    if not source.is_dir():
        raise AutosegError("DICOM folder not found", source, "pass the folder of a DICOM export")
    all_series = find_series(source)
    images = {s.uid: s for s in all_series if s.is_image}
    pairs = _pairs(find_annotations(all_series), images, all_series, source)
    names = sorted({name for annotation, _ in pairs for name in annotation.segments.values()})
    values = {name: index for index, name in enumerate(names, start=1)}
    modality = _modality([series for _, series in pairs], source)
    staging = output.parent / f".{output.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        sources = _write_cases(staging, pairs, values, images)
        _write_description(staging, output.name, modality, values, sources)
        os.replace(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"dataset": str(output), "training": len(pairs), "test": len(sources["test"]), "labels": values}


def _pairs(
    annotations: list[SegAnnotation], images: dict[str, DicomSeries], all_series, source: Path
) -> list[tuple[SegAnnotation, DicomSeries]]:
    if not annotations:
        rtstruct = any(s.modality == "RTSTRUCT" for s in all_series)
        raise AutosegError(
            "no DICOM-SEG annotations in the folder" + (" (RTSTRUCT found: it is not converted)" if rtstruct else ""),
            source,
            "export the annotations as DICOM-SEG (3D Slicer, OHIF; RTSTRUCT converts to SEG with dcmqi or Slicer)",
        )
    pairs: list[tuple[SegAnnotation, DicomSeries]] = []
    seen: dict[str, Path] = {}
    for annotation in annotations:
        series = images.get(annotation.source_series_uid)
        if series is None:
            raise AutosegError(
                f"DICOM-SEG refers to series {annotation.source_series_uid}, which is not in {source}",
                annotation.path,
                "export the source series with its segmentation",
            )
        if series.uid in seen:
            raise AutosegError(
                f"two DICOM-SEGs annotate series {series.uid} (also {seen[series.uid]})",
                annotation.path,
                "keep one segmentation per series (merge them in a viewer)",
            )
        seen[series.uid] = annotation.path
        pairs.append((annotation, series))
    return sorted(pairs, key=lambda pair: pair[1].uid)


def _modality(series: list[DicomSeries], source: Path) -> str:
    """The channel name: CT keeps nnU-Net's CT normalisation; anything else is normalised per image."""
    found = sorted({s.modality for s in series})
    if len(found) != 1:
        raise AutosegError(
            f"annotated series of several modalities ({', '.join(found)}): one dataset, one channel kind",
            source,
            "convert each modality into its own dataset",
        )
    return found[0] or "image"


def _write_cases(folder: Path, pairs, values: dict[str, int], images: dict[str, DicomSeries]) -> dict[str, Any]:
    sources: dict[str, Any] = {"training": {}, "test": {}, "skipped": {}}
    annotated = {series.uid for _, series in pairs}
    for annotation, series in pairs:
        image, geometry = read_series(series)
        write_image(image[None], geometry, folder / "imagesTr" / f"{series.case_id}_0000{ENDING}")
        write_label(label_map(annotation, series, values), geometry, folder / "labelsTr" / f"{series.case_id}{ENDING}")
        sources["training"][series.case_id] = {
            "series": str(series.folder),
            "seg": str(annotation.path),
            "seg_sop_instance_uid": annotation.sop_instance_uid,
        }
    for uid, series in sorted(images.items()):
        if uid in annotated:
            continue
        problems = series_problems(series)
        if problems:  # an unannotated localizer or scout need not stop the conversion; it is reported
            log.warning("left out %s (%s): %s", series.describe(), series.folder, problems[0][0])
            sources["skipped"][series.uid] = problems[0][0]
            continue
        image, geometry = read_series(series)
        write_image(image[None], geometry, folder / "imagesTs" / f"{series.case_id}_0000{ENDING}")
        sources["test"][series.case_id] = {"series": str(series.folder)}
    return sources


def _write_description(folder: Path, name: str, modality: str, values: dict[str, int], sources: dict[str, Any]) -> None:
    write_json(
        folder / "dataset.json",
        {
            "name": name,
            "description": "converted from DICOM and DICOM-SEG by autoseg convert dicom",
            "channel_names": {"0": modality},
            "labels": {"background": 0, **values},
            "numTraining": len(sources["training"]),
            "file_ending": ENDING,
        },
    )
    write_json(folder / "dicom_sources.json", sources)
