"""Pixels of a checked DICOM series through SimpleITK's ImageSeriesReader (GDCM), given the slices in order, so
spacing, origin and direction are ITK's own and match what any ITK-based tool reads from the same files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from autoseg.data.dicom.checks import check_series
from autoseg.data.dicom.series import DicomSeries
from autoseg.data.geometry import Geometry
from autoseg.errors import AutosegError
from autoseg.utils.c_locale import keep_locale


def read_series_image(series: DicomSeries) -> sitk.Image:
    """The series as a 3D float32 SimpleITK image (rescale slope and intercept applied by GDCM)."""
    ordered = check_series(series)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(s.path) for s in ordered])
    reader.SetOutputPixelType(sitk.sitkFloat32)
    try:
        with keep_locale():
            return reader.Execute()
    except RuntimeError as error:
        reason = str(error).split("sitk::ERROR:")[-1].strip().splitlines()[0]
        raise AutosegError(
            f"{series.describe()}: cannot read its pixels ({reason})",
            series.folder,
            "export the series again (uncompressed or a transfer syntax GDCM reads)",
        ) from None


def read_series(series: DicomSeries) -> tuple[np.ndarray, Geometry]:
    """float32 (Z, Y, X) and its geometry."""
    image = read_series_image(series)
    return sitk.GetArrayFromImage(image), Geometry.of_image(image)


def read_channels(channels: Sequence[DicomSeries]) -> tuple[np.ndarray, Geometry]:
    """One series per channel as float32 (C, Z, Y, X); every channel must share the first one's grid."""
    arrays, reference = [], None
    for index, series in enumerate(channels):
        array, geometry = read_series(series)
        if reference is None:
            reference = geometry
        elif (difference := reference.mismatch(geometry)) is not None:
            raise AutosegError(
                f"{series.describe()} (channel {index}) does not match channel 0's grid: {difference}",
                series.folder,
                "give every channel of a case one voxel grid "
                "(the same acquisition geometry), or resample it onto channel 0's",
            )
        arrays.append(array)
    if reference is None:
        raise ValueError("read_channels needs at least one series")
    return np.stack(arrays), reference
