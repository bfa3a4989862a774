"""Surface voxels and the distances between two surfaces, in millimetres.

A surface voxel is a foreground voxel with at least one face-neighbour in the background; the image border
counts as background, so a mask touching the border has a surface there (as in medpy and MONAI).
Distances come from a Euclidean distance transform with the per-axis spacing, so anisotropic voxels are
measured correctly. Both masks are first cropped to the bounding box of their union plus a one-voxel margin:
every surface voxel lies inside that box, so the cropped distance transform is exact and much cheaper.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

# One voxel of background around the union keeps erosion at the crop edge identical to the full image.
CROP_MARGIN = 1


def spatial_axes_and_spacing(
    shape: Sequence[int], spacing: Sequence[float]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The axes that carry extent (size > 1) and their spacing.

    Axes of size 1 are dropped: a 2D image stored as (1, Y, X) has no neighbours along z, and keeping the axis
    would make every foreground voxel a surface voxel (its z-neighbours lie outside the image).
    """
    if len(spacing) != len(shape):
        raise ValueError(f"spacing {tuple(spacing)} has {len(spacing)} values for an array of shape {tuple(shape)}")
    axes = tuple(a for a, n in enumerate(shape) if n > 1) or (len(shape) - 1,)
    return axes, tuple(float(spacing[a]) for a in axes)


def squeeze_to_axes(mask: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """The mask with every axis not in `axes` (all of size 1) removed."""
    drop = tuple(a for a in range(mask.ndim) if a not in axes)
    return mask.reshape([mask.shape[a] for a in axes]) if drop else mask


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Physical length of the image's diagonal: larger than any distance between two voxels in it."""
    return float(np.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing))))


def bounding_box(mask: np.ndarray, margin: int = CROP_MARGIN) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding all foreground, grown by `margin` and clipped to the array."""
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=others)) if others else np.flatnonzero(mask)
        if hit.size == 0:
            return None
        box.append(slice(max(hit[0] - margin, 0), min(hit[-1] + 1 + margin, mask.shape[axis])))
    return tuple(box)


def surface(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a face-neighbour in the background (the border counts as background)."""
    faces = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=faces, border_value=0)


def surface_distances(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Distances in mm from each prediction surface voxel to the reference surface, and the reverse.

    Both masks are boolean, of the same shape, with `spacing` per axis, and neither may be empty.
    """
    box = bounding_box(pred | ref)
    if box is None or not pred.any() or not ref.any():
        raise ValueError("surface distances need two non-empty masks")
    pred_surface, ref_surface = surface(pred[box]), surface(ref[box])
    to_ref = ndimage.distance_transform_edt(~ref_surface, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)
    return to_ref[pred_surface], to_pred[ref_surface]
