"""DICOM-SEG annotations read back as label maps on their source series' grid (highdicom).

A SEG names its source series in ReferencedSeriesSequence, and each of its frames the source slice it lies on;
its pixels are read per source slice, in the series' reading order, so the label map lands on exactly the grid
SimpleITK reads from the series (reading.py). Each segment's label (SegmentLabel) names a class; overlapping
segments cannot be one label map and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoseg.data.dicom.checks import check_series
from autoseg.data.dicom.series import SEG_SOP_CLASS, DicomSeries, read_header, require_dicom_library
from autoseg.errors import AutosegError


@dataclass(frozen=True)
class SegAnnotation:
    path: Path
    sop_instance_uid: str
    source_series_uid: str
    segments: dict[int, str]  # segment number -> segment label
    rows: int = 0
    columns: int = 0


def find_annotations(all_series: list[DicomSeries]) -> list[SegAnnotation]:
    """Every DICOM-SEG instance among the series found in a folder."""
    return [
        _annotation(s.path)
        for series in all_series
        for s in series.slices
        if series.sop_class_uid == SEG_SOP_CLASS or series.modality == "SEG"
    ]


def _annotation(path: Path) -> SegAnnotation:
    header = read_header(path)
    referenced = header.get("ReferencedSeriesSequence")
    if not referenced or not referenced[0].get("SeriesInstanceUID"):
        raise AutosegError(
            "DICOM-SEG without ReferencedSeriesSequence: its source series is unknown",
            path,
            "export the SEG from a tool that records its source series (3D Slicer, OHIF, highdicom)",
        )
    segments = {
        int(item.SegmentNumber): str(item.get("SegmentLabel", "") or f"segment_{item.SegmentNumber}")
        for item in header.get("SegmentSequence", [])
    }
    labels = list(segments.values())
    duplicated = sorted({name for name in labels if labels.count(name) > 1})
    if duplicated:
        raise AutosegError(
            f"DICOM-SEG has several segments labelled {duplicated[0]!r}",
            path,
            "give every segment of a SEG its own label (SegmentLabel names the class)",
        )
    return SegAnnotation(
        path,
        str(header.SOPInstanceUID),
        str(referenced[0].SeriesInstanceUID),
        segments,
        int(header.get("Rows", 0) or 0),
        int(header.get("Columns", 0) or 0),
    )


def label_map(annotation: SegAnnotation, series: DicomSeries, values: dict[str, int]) -> np.ndarray:
    """(Z, Y, X) label map on the series' grid; segment label L gets values[L]."""
    hd = require_dicom_library("highdicom", "reading DICOM-SEG")
    ordered = check_series(series)
    if (annotation.rows, annotation.columns) != (ordered[0].rows, ordered[0].columns):
        # checked from the header before highdicom allocates frames of the SEG's claimed size
        raise AutosegError(
            f"DICOM-SEG frames of {annotation.rows}x{annotation.columns} pixels do not fit "
            f"{series.describe()}'s {ordered[0].rows}x{ordered[0].columns} slices",
            annotation.path,
            "export the SEG on the grid of its source series",
        )
    sources = [s.sop_instance_uid for s in ordered]
    numbers = sorted(annotation.segments)
    try:
        seg = hd.seg.segread(str(annotation.path))
        segment_numbers = (
            _combined(seg, sources, numbers)
            if seg.SegmentationType == "BINARY"
            else _thresholded(seg, sources, numbers)
        )
    except (ValueError, KeyError, AttributeError, RuntimeError) as error:
        if "overlap" in str(error):
            raise AutosegError(
                "segments overlap; a label map holds one class per voxel",
                annotation.path,
                "edit the segmentation so segments do not overlap",
            ) from None
        raise AutosegError(
            f"cannot place the DICOM-SEG's frames on {series.describe()} ({error})",
            annotation.path,
            "export the SEG with per-frame references to its source slices "
            "(DerivationImageSequence), from the same series",
        ) from None
    lookup = np.zeros(
        max(numbers, default=0) + 1, dtype=np.uint8 if max(values.values(), default=0) < 256 else np.int16
    )
    for number in numbers:
        lookup[number] = values[annotation.segments[number]]
    return lookup[segment_numbers]


def _combined(seg, sources: list[str], numbers: list[int]) -> np.ndarray:
    """BINARY: one map of segment numbers (highdicom refuses overlapping segments)."""
    return seg.get_pixels_by_source_instance(
        sources, segment_numbers=numbers, combine_segments=True, relabel=False, assert_missing_frames_are_empty=True
    )


def _thresholded(seg, sources: list[str], numbers: list[int]) -> np.ndarray:
    """FRACTIONAL: each segment where its value is at least half the maximum, as a map of segment numbers."""
    values = seg.get_pixels_by_source_instance(
        sources, segment_numbers=numbers, rescale_fractional=False, assert_missing_frames_are_empty=True
    )
    masks = values >= 0.5 * float(seg.MaximumFractionalValue)
    if (masks.sum(axis=-1) > 1).any():
        raise ValueError("segments overlap")
    return np.where(masks.any(axis=-1), np.asarray(numbers)[np.argmax(masks, axis=-1)], 0)
