"""The nonzero region of an image: what cropping keeps (outside it is scanner background)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def nonzero_mask(image: np.ndarray) -> np.ndarray:
    """(Z, Y, X) bool: voxels where any channel is nonzero, with enclosed holes filled.

    Holes are filled so that dark structures inside the body (air in lungs, CSF) are not cropped away.
    """
    mask = np.any(image != 0, axis=0)
    if mask.all():
        return mask
    return ndimage.binary_fill_holes(mask)


def nonzero_bbox(image: np.ndarray, mask: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Per-axis [lo, hi) of the nonzero region of a (C, Z, Y, X) image; the whole image if it is all zero."""
    mask = nonzero_mask(image) if mask is None else mask
    if not mask.any():
        return [(0, s) for s in mask.shape]
    bbox = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        bbox.append((int(present[0]), int(present[-1]) + 1))
    return bbox
