"""Is a DICOM series one even voxel grid? Each problem is one line naming the series (its SeriesInstanceUID and
folder) and the fix: missing or duplicate slices, uneven slice spacing, gantry tilt or a non-orthogonal
direction, mixed image sizes. Such a series is refused, never silently resampled: a gap or a tilt read as an
even stack would put every voxel behind it in the wrong place.

sorted_slices() orders slices along the slice normal (row x column direction), as ITK's series reader needs
them, so the geometry SimpleITK computes from the first and last slice holds for every slice.
"""

from __future__ import annotations

import numpy as np

from autoseg.data.dicom.series import DicomSeries, DicomSlice
from autoseg.data.image_limits import check_size
from autoseg.errors import AutosegError

# Positions agree when they differ by less than this many mm plus this fraction of the slice spacing: scanners
# round positions to a few decimals.
POSITION_TOLERANCE_MM = 1e-3
SPACING_TOLERANCE = 0.01
DIRECTION_TOLERANCE = 1e-3

_EXPORT_AGAIN = "export the complete series again from the PACS or scanner"
_RESAMPLE = (
    "resample it to an even, orthogonal grid first (e.g. dcm2niix, or 3D Slicer's DICOM import with "
    "acquisition geometry regularization) and predict the resulting NIfTI"
)


def normal_of(orientation: tuple[float, ...] | None) -> np.ndarray:
    if orientation is None:
        raise ValueError("a slice without ImageOrientationPatient has no normal (series_problems reports it)")
    row, column = np.array(orientation[:3]), np.array(orientation[3:])
    return np.cross(row, column)


def sorted_slices(series: DicomSeries) -> list[DicomSlice]:
    """Slices in ITK's order (ascending along the slice normal); the series must have passed check_series."""
    normal = normal_of(series.slices[0].orientation)
    return sorted(series.slices, key=lambda s: (float(np.dot(np.asarray(s.position, float), normal)), str(s.path)))


def check_series(series: DicomSeries) -> list[DicomSlice]:
    """The slices in reading order, or AutosegError with the series' first problem."""
    problems = series_problems(series)
    if problems:
        message, fix = problems[0]
        raise AutosegError(f"{series.describe()}: {message}", series.folder, fix)
    return sorted_slices(series)


def series_problems(series: DicomSeries) -> list[tuple[str, str]]:
    """(problem, fix) pairs; empty when the series is one even, orthogonal stack of equal slices."""
    slices = series.slices
    if not slices:
        return [("no image slices", _EXPORT_AGAIN)]
    if any(s.frames > 1 for s in slices):
        return [
            (
                "multi-frame (enhanced) DICOM is not supported",
                "export the series as classic single-frame images, or convert it to NIfTI (e.g. dcm2niix)",
            )
        ]
    for check in (_size_problem, _voxel_limit_problem, _geometry_tags_problem, _orientation_problem):
        problem = check(slices)
        if problem:
            return [problem]
    return _stack_problems(sorted_slices(series))


def _size_problem(slices: list[DicomSlice]) -> tuple[str, str] | None:
    sizes = sorted({(s.rows, s.columns) for s in slices})
    spacings = sorted({s.pixel_spacing for s in slices if s.pixel_spacing is not None})
    if len(sizes) > 1:
        shown = ", ".join(f"{r}x{c}" for r, c in sizes[:4])
        return (
            f"mixed image sizes ({shown} rows x columns)",
            "a series must hold slices of one size; export each acquisition as its own series",
        )
    if len(spacings) > 1:
        return (
            f"mixed pixel spacings {spacings[:3]}",
            "a series must hold slices of one pixel spacing; export each acquisition as its own series",
        )
    return None


def _voxel_limit_problem(slices: list[DicomSlice]) -> tuple[str, str] | None:
    """Headers are claims: the series reader allocates rows x columns x slices float32 voxels before reading a
    pixel, so a damaged or crafted Rows/Columns is refused here (the limits of data/image_limits.py)."""
    try:
        check_size(slices[0].path, slices[0].rows * slices[0].columns * len(slices), 4)
    except AutosegError as error:
        return error.problem, error.fix or ""
    return None


def _geometry_tags_problem(slices: list[DicomSlice]) -> tuple[str, str] | None:
    missing = [s for s in slices if s.position is None or s.orientation is None]
    if missing:
        message = (
            f"{len(missing)} slice(s) lack ImagePositionPatient/ImageOrientationPatient (e.g. "
            f"{missing[0].path.name}): their place in space is unknown"
        )
        return message, (
            "export the series with its geometry (a cross-sectional image such as CT or MR), or "
            "convert it with a tool that knows where the slices lie"
        )
    return None


def _orientation_problem(slices: list[DicomSlice]) -> tuple[str, str] | None:
    first = np.array(slices[0].orientation)
    if any(np.max(np.abs(np.array(s.orientation) - first)) > DIRECTION_TOLERANCE for s in slices):
        return (
            "slices have different orientations (ImageOrientationPatient)",
            "a series must be one stack; export each orientation (e.g. a localizer) as its own series",
        )
    row, column = first[:3], first[3:]
    if (
        abs(np.linalg.norm(row) - 1) > DIRECTION_TOLERANCE
        or abs(np.linalg.norm(column) - 1) > DIRECTION_TOLERANCE
        or abs(float(np.dot(row, column))) > DIRECTION_TOLERANCE
    ):
        message = (
            "row and column directions are not orthogonal unit vectors (ImageOrientationPatient "
            f"{tuple(round(v, 4) for v in first)})"
        )
        return message, _RESAMPLE
    return None


def _stack_problems(ordered: list[DicomSlice]) -> list[tuple[str, str]]:
    if len(ordered) < 2:
        return []
    normal = normal_of(ordered[0].orientation)
    positions = np.array([s.position for s in ordered])
    along = positions @ normal
    steps = np.diff(along)
    spacing = float(np.median(steps))
    tolerance = POSITION_TOLERANCE_MM + SPACING_TOLERANCE * abs(spacing)
    duplicate = int(np.argmax(steps <= tolerance)) if np.any(steps <= tolerance) else None
    if duplicate is not None:
        a, b = ordered[duplicate], ordered[duplicate + 1]
        message = f"duplicate slices at {along[duplicate]:.3f} mm along the slice normal ({a.path.name}, {b.path.name})"
        return [
            (
                message,
                (
                    "remove the duplicate files, or split the series (e.g. by echo, phase or acquisition) so "
                    "that every position holds one slice"
                ),
            )
        ]
    sideways = positions[1:] - positions[:-1] - np.outer(steps, normal)
    shift = float(np.max(np.linalg.norm(sideways, axis=1)))
    if shift > tolerance:
        angle = float(np.degrees(np.arctan2(np.linalg.norm(sideways[0]), steps[0])))
        return [(f"gantry tilt: slices are not stacked along their normal (tilt {angle:.1f} degrees)", _RESAMPLE)]
    return _spacing_problems(ordered, along, steps, spacing, tolerance)


def _spacing_problems(ordered, along, steps, spacing, tolerance) -> list[tuple[str, str]]:
    uneven = np.abs(steps - spacing) > tolerance
    if not np.any(uneven):
        return []
    first = int(np.argmax(uneven))
    ratio = steps[first] / spacing
    if steps[first] > spacing and abs(ratio - round(ratio)) * spacing <= tolerance:
        message = (
            f"{round(ratio) - 1} missing slice(s): a gap of {steps[first]:.3f} mm after "
            f"{ordered[first].path.name} (at {along[first]:.3f} mm) where the spacing is {spacing:.3f} mm"
        )
        return [(message, _EXPORT_AGAIN)]
    message = (
        f"uneven slice spacing: {steps.min():.3f} to {steps.max():.3f} mm (first after {ordered[first].path.name})"
    )
    return [(message, _RESAMPLE)]
