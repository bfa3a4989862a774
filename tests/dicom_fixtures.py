"""Synthetic DICOM series for the DICOM tests, written by SimpleITK (GDCM) from a volume, one file per slice,
with the tags a scanner sets: Study/Series/SOP Instance UIDs, FrameOfReferenceUID, ImagePositionPatient per
slice, ImageOrientationPatient, PixelSpacing, SliceThickness, Modality, SOPClassUID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from autoseg.utils.c_locale import keep_locale

SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}


def new_uid() -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid())


def write_series(
    image: sitk.Image,
    folder: Path,
    modality: str = "MR",
    study_uid: str | None = None,
    series_uid: str | None = None,
    names: str = "IM{:04d}",
    skip: tuple[int, ...] = (),
    positions: list[tuple[float, float, float]] | None = None,
    series_number: int = 1,
) -> str:
    """Write `image` (3D, whole-number values) as int16 slices into `folder`; returns the SeriesInstanceUID.
    `skip` leaves those slice indices out; `positions` replaces each slice's ImagePositionPatient."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or new_uid()
    study_uid = study_uid or new_uid()
    frame_of_reference = new_uid()
    pixels = sitk.Cast(image, sitk.sitkInt16)
    direction = image.GetDirection()
    orientation = "\\".join(f"{v:.6f}" for v in (*direction[0::3], *direction[1::3]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetImageIO("GDCMImageIO")  # file names without an ending, as PACS exports often have
    for index in range(image.GetDepth()):
        if index in skip:
            continue
        piece = pixels[:, :, index]
        position = positions[index] if positions else image.TransformIndexToPhysicalPoint((0, 0, index))
        tags = {
            "0008|0060": modality,
            "0008|0016": SOP_CLASSES[modality],
            "0008|0018": new_uid(),
            "0020|000d": study_uid,
            "0020|000e": series_uid,
            "0020|0052": frame_of_reference,
            "0020|0011": str(series_number),
            "0020|0013": str(index + 1),
            "0010|0020": "PAT001",
            "0010|0010": "Synthetic^Patient",
            "0020|0037": orientation,
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0028|0030": "\\".join(f"{v:.6f}" for v in (image.GetSpacing()[1], image.GetSpacing()[0])),
            "0018|0050": f"{image.GetSpacing()[2]:.6f}",
            "0018|0088": f"{image.GetSpacing()[2]:.6f}",
            "0008|103e": "synthetic",
            "0008|0020": "20260101",
            "0008|0030": "120000",
            "0008|0021": "20260101",
            "0008|0031": "120000",
            "0008|0050": "ACC1",
            "0020|0010": "1",
            "0008|0090": "",
            "0010|0030": "19700101",
            "0010|0040": "O",
            "0008|0070": "Synthetic",
        }
        for tag, value in tags.items():
            piece.SetMetaData(tag, value)
        writer.SetFileName(str(folder / names.format(index)))
        with keep_locale():
            writer.Execute(piece)
    return series_uid


def whole_number_image(array: np.ndarray, spacing=(0.9, 0.9, 3.0), origin=(-10.0, 5.0, 20.0)) -> sitk.Image:
    """A float32 image of rounded values (int16 range) with ITK-order spacing and origin."""
    image = sitk.GetImageFromArray(np.clip(np.rint(array), -1000, 3000).astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image
