"""Reading and writing images and label maps with their geometry, through SimpleITK.

Inside autoseg an image is float32 (C, Z, Y, X) and a label map is an integer (Z, Y, X) array; 2D files get a
z axis of length 1. Channels come from separate files (nnU-Net's _0000, _0001 ...), from the 4th axis of a
4D NIfTI (MSD) or from the colour components of an RGB(A) picture.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from autoseg.data.geometry import Geometry
from autoseg.data.image_header import check_image_header, itk_reason
from autoseg.data.integrity import check_file
from autoseg.data.naming import PLAIN_2D_ENDINGS, SUPPORTED_ENDINGS, split_ending
from autoseg.errors import AutosegError
from autoseg.utils.files import is_disk_failure, write_failure

__all__ = ["SUPPORTED_ENDINGS", "read_image", "read_label", "write_image", "write_label", "label_dtype"]

# These formats store spacing as float32: 0.8 comes back as 0.800000011920929. Reading it as the shortest decimal
# that maps to the same float32 (0.8) gives tidy numbers in every artifact and writes back to identical bytes.
_FLOAT32_SPACING_ENDINGS = (".nii", ".nii.gz", ".tif", ".tiff", ".hdr", ".img")

_REEXPORT_FIX = "re-export it from the original data (a complete, valid image file); supported endings: " + ", ".join(
    SUPPORTED_ENDINGS
)


def read_image(
    paths: Sequence[Path | str] | Path | str, expected_channels: int | None = None
) -> tuple[np.ndarray, Geometry]:
    """The channel files of one case as float32 (C, Z, Y, X) plus their common geometry.

    A file whose colour components are all identical (a grey picture saved as RGB) counts as one channel,
    unless `expected_channels` says that many components are expected.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_image needs at least one file")
    channel_blocks, reference = [], None
    for path in paths:
        image = _read_sitk(path)
        geometry = _geometry_of(image, path)
        if reference is None:
            reference = geometry
        elif (difference := reference.mismatch(geometry)) is not None:
            raise AutosegError(
                f"channel file does not match {paths[0].name}: {difference}",
                path,
                "all channel files of a case must share one voxel grid; resample or re-export "
                "them onto the grid of the first channel",
            )
        channel_blocks.append(_channels_of(image, path, expected_channels))
    array = channel_blocks[0] if len(channel_blocks) == 1 else np.concatenate(channel_blocks, axis=0)
    return array, reference


def read_label(path: Path | str) -> tuple[np.ndarray, Geometry]:
    """An integer label map (Z, Y, X): uint8 when all values fit, else int16/int32.

    Float-stored labels are accepted when every value is a whole number.
    """
    path = Path(path)
    image = _read_sitk(path)
    if image.GetDimension() not in (2, 3):
        raise AutosegError(
            f"label map must be a 2D or 3D image, found {image.GetDimension()}D",
            path,
            "store one single-channel label map per case",
        )
    array = sitk.GetArrayFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1:
        if not _components_identical(array):
            raise AutosegError(
                f"label map has {image.GetNumberOfComponentsPerPixel()} colour components",
                path,
                "save label maps as single-channel (greyscale) images whose values are class indices",
            )
        array = array[..., 0]
    low, high = _label_range(array, path)  # in the stored dtype, before any cast could wrap a value
    if not np.issubdtype(array.dtype, np.integer):
        array = _whole_numbers(array, path)
    array = array.astype(label_dtype(low, high), copy=False)
    geometry = _geometry_of(image, path)
    return (array if geometry.ndim == 3 else array[None]), geometry


def write_label(array: np.ndarray, geometry: Geometry, path: Path | str) -> Path:
    """Write a label map (Z, Y, X) or (Y, X) in the format of `path`'s ending with `geometry` restored.

    Atomic: the file appears under its final name only once complete.
    """
    path = Path(path)
    ending = split_ending(path)[1].lower()
    if ending in (".jpg", ".jpeg"):
        raise AutosegError("JPEG is lossy and would change label values", path, "write labels as .png or .tif")
    array = _spatial_array(np.asarray(array), geometry, path)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        array = _whole_numbers(array, path)
    low, high = int(array.min(initial=0)), int(array.max(initial=0))
    dtype = label_dtype(low, high)
    if ending in PLAIN_2D_ENDINGS:
        dtype = _plain_2d_dtype(low, high, ending, path)
    image = geometry.apply_to(sitk.GetImageFromArray(array.astype(dtype, copy=False)))
    return _write_atomically(image, path)


def write_image(array: np.ndarray, geometry: Geometry, path: Path | str) -> Path:
    """Write a (C, Z, Y, X) image: float32 for volume formats (C > 1: a 4D file, MSD style, or a vector 2D image),
    rounded 8/16-bit pixels for .png/.bmp (C = 3 or 4 gives an RGB(A) picture)."""
    path = Path(path)
    array = np.asarray(array)
    if array.ndim != 4:
        raise ValueError(f"write_image expects (C, Z, Y, X), got shape {array.shape}")
    channels = [_spatial_array(channel, geometry, path) for channel in array]
    ending = split_ending(path)[1].lower()
    if ending in PLAIN_2D_ENDINGS:
        rounded = np.rint(np.stack(channels, axis=-1))
        pixels = rounded.astype(_plain_2d_dtype(int(rounded.min(initial=0)), int(rounded.max(initial=0)), ending, path))
    else:
        pixels = np.stack(channels, axis=-1).astype(np.float32)
    if len(channels) == 1:
        image = sitk.GetImageFromArray(pixels[..., 0])
    elif geometry.ndim == 2:
        image = sitk.GetImageFromArray(pixels, isVector=True)  # colour components of each pixel
    else:
        # 4D with the channels on the 4th ITK axis (MSD style); GetImageFromArray would make a vector image.
        image = sitk.JoinSeries([sitk.GetImageFromArray(pixels[..., c]) for c in range(len(channels))])
    return _write_atomically(geometry.apply_to(image), path)


def label_dtype(low: int, high: int) -> type:
    """The smallest integer type that holds label values in [low, high]."""
    if low >= 0 and high < 256:
        return np.uint8
    if low >= -(2**15) and high < 2**15:
        return np.int16
    return np.int32


def _read_sitk(path: Path) -> sitk.Image:
    if not path.is_file():
        raise AutosegError("file not found", path, "add the file or correct its name")
    check_image_header(path)  # sizes and geometry fields, before any reader allocates what a header claims
    check_file(path)  # a NIfTI cut short would otherwise read as an image padded with zeros
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise AutosegError(f"cannot read image ({itk_reason(error)})", path, _REEXPORT_FIX) from None


def _geometry_of(image: sitk.Image, path: Path) -> Geometry:
    geometry = Geometry.of_image(image)
    if split_ending(path)[1].lower() in _FLOAT32_SPACING_ENDINGS:
        tidy = tuple(float(str(np.float32(s))) for s in geometry.spacing_itk)
        geometry = dataclasses.replace(geometry, spacing_itk=tidy)
    return geometry


def _channels_of(image: sitk.Image, path: Path, expected_channels: int | None) -> np.ndarray:
    """(C, Z, Y, X) float32 from one file."""
    dimension, components = image.GetDimension(), image.GetNumberOfComponentsPerPixel()
    if dimension not in (2, 3, 4) or (dimension == 4 and components > 1):
        raise AutosegError(
            f"unsupported image layout ({dimension}D with {components} components per pixel)",
            path,
            "store each channel as a 2D/3D file, or all channels as one 4D file",
        )
    if np.issubdtype(sitk.GetArrayViewFromImage(image).dtype, np.complexfloating):
        raise AutosegError("complex-valued image", path, "store magnitude images (real numbers)")
    array = sitk.GetArrayFromImage(image)
    if dimension == 4:
        return array.astype(np.float32, copy=False)
    if components > 1:
        if expected_channels != components and _components_identical(array):
            array = array[..., :1]
        array = np.moveaxis(array, -1, 0)
    else:
        array = array[None]
    if dimension == 2:
        array = array[:, None]
    return np.ascontiguousarray(array, dtype=np.float32)


def _components_identical(array: np.ndarray) -> bool:
    return bool(np.all(array == array[..., :1]))


def _label_range(array: np.ndarray, path: Path) -> tuple[int, int]:
    """The smallest and largest label value, read in the file's own dtype: a uint64/int64 or float value outside
    the int32 range would otherwise wrap, on the cast, into a valid-looking class index."""
    if array.size == 0:
        return 0, 0
    if not np.issubdtype(array.dtype, np.integer):
        _refuse_non_finite_labels(array, path)
    low, high = array.min(), array.max()
    if low < -(2**31) or high > 2**31 - 1:
        example = high if high > 2**31 - 1 else low
        raise AutosegError(
            f"label map holds the value {example} (stored as {array.dtype}), outside the range "
            "of class indices autoseg reads (32-bit integers)",
            path,
            "labels must be small whole-number class indices 0, 1, 2 ...; re-export the label map",
        )
    return int(np.floor(low)), int(np.ceil(high))


def _refuse_non_finite_labels(array: np.ndarray, path: Path) -> None:
    if not np.all(np.isfinite(array)):
        raise AutosegError("label map contains NaN or Inf", path, "labels must be whole-number class indices")


def _whole_numbers(array: np.ndarray, path: Path) -> np.ndarray:
    _refuse_non_finite_labels(array, path)
    rounded = np.rint(array)
    if not np.array_equal(rounded, array):
        example = array[rounded != array].flat[0]
        raise AutosegError(
            f"label map has non-integer values (e.g. {example:g})",
            path,
            "labels must be whole-number class indices; re-export it as an integer image "
            "(resample labels with nearest-neighbour interpolation)",
        )
    return rounded.astype(np.int64)


def _spatial_array(array: np.ndarray, geometry: Geometry, path: Path) -> np.ndarray:
    """(Z, Y, X) for a 3D geometry, (Y, X) for a 2D one; accepts (1, Y, X) or (Y, X) for 2D."""
    if geometry.ndim == 2 and array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    expected = geometry.shape if geometry.ndim == 3 else geometry.shape[1:]
    if array.shape != expected:
        raise ValueError(f"array of shape {array.shape} does not fit geometry shape {geometry.shape} ({path})")
    return array


def _plain_2d_dtype(low: int, high: int, ending: str, path: Path) -> type:
    if low >= 0 and high < 256:
        return np.uint8
    if ending == ".png" and low >= 0 and high < 2**16:
        return np.uint16
    raise AutosegError(
        f"values {low}..{high} do not fit the 8-bit pixels of {ending}", path, "write to .tif, .nrrd or .nii.gz instead"
    )


def _write_atomically(image: sitk.Image, path: Path) -> Path:
    """Write into a hidden folder next to `path` under the final name (so SimpleITK picks the writer from the
    ending and a header such as .mhd names its data file correctly), then move the files out, header last."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    except OSError as error:
        if is_disk_failure(error):
            raise write_failure(path, error.strerror or str(error)) from None
        raise
    try:
        try:
            sitk.WriteImage(image, str(staging / path.name), useCompression=True)
        except RuntimeError as error:
            reason = str(error).split("sitk::ERROR:")[-1].strip().splitlines()[0]
            if is_disk_failure(error) or not _has_room(path.parent):
                raise write_failure(path, reason) from None
            raise AutosegError(
                f"cannot write image ({reason})", path, "use one of the endings " + ", ".join(SUPPORTED_ENDINGS)
            ) from None
        for produced in sorted(staging.iterdir(), key=lambda p: p.name == path.name):
            os.replace(produced, path.parent / produced.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _has_room(folder: Path, needed: int = 1 << 20) -> bool:
    """SimpleITK reports a full disk only as a failed write: look at the disk before blaming the file ending."""
    try:
        return shutil.disk_usage(folder).free >= needed
    except OSError:
        return False
