"""The non-background region of an image: what cropping keeps (outside it is scanner background).

Background is zero in most scans (MRI, skull-stripped data). Some data sets store it as another constant:
intensities z-scored before distribution (the BraTS sample: -3.16 in one case, -5.34 in another) or CT air
padded with one value. `constant_background` finds such a value from an image's border, where a scan shows
background; a channel whose border is noise (no value repeats) or zero keeps the zero rule, so data with a
zero background is cropped exactly as before.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

# A border value counts as the background when this share of the border voxels holds exactly that value ...
CONSTANT_BORDER_SHARE = 0.6


def border_values(channel: np.ndarray) -> np.ndarray:
    """The voxels on the faces of a (Z, Y, X) channel (the in-plane edges only when Z == 1: a 2D image)."""
    axes = [a for a in range(channel.ndim) if channel.shape[a] > 1]
    faces = []
    for axis in axes:
        faces += [np.take(channel, 0, axis=axis).ravel(), np.take(channel, -1, axis=axis).ravel()]
    return np.concatenate(faces) if faces else channel.ravel()


def constant_background(channel: np.ndarray) -> float | None:
    """The value that fills the border of `channel`, or None when the border is not one constant.

    ... and that value is the channel's minimum: background is the darkest part of a scan (z-scored air, CT
    padding), which keeps a bright constant, e.g. a saturated edge, from being taken for it."""
    border = border_values(channel)
    if border.size == 0:
        return None
    values, counts = np.unique(border, return_counts=True)
    top = int(np.argmax(counts))
    value = values[top]
    if counts[top] < CONSTANT_BORDER_SHARE * border.size or value > channel.min():
        return None
    return float(value)


def channel_backgrounds(image: np.ndarray, eligible: Sequence[bool]) -> list[float | None]:
    """Per channel of (C, Z, Y, X): the non-zero constant background of the channels that may use one, else
    None (background zero, noise, or a channel whose values all stay data)."""
    values = []
    for channel, allowed in zip(image, eligible):
        value = constant_background(channel) if allowed else None
        values.append(value if value != 0 else None)
    return values


def nonzero_mask(image: np.ndarray, background: Sequence[float | None] | None = None) -> np.ndarray:
    """(Z, Y, X) bool: voxels where any channel differs from its background (0 unless `background` gives a
    value per channel; None means 0), with enclosed holes filled.

    Holes are filled so that dark structures inside the body (air in lungs, CSF) are not cropped away.
    """
    background = background or [None] * image.shape[0]
    mask = np.zeros(image.shape[1:], bool)
    for channel, value in zip(image, background):
        mask |= channel != (0 if value is None else np.asarray(value, dtype=channel.dtype))
    if mask.all():
        return mask
    return ndimage.binary_fill_holes(mask)


def nonzero_bbox(
    image: np.ndarray, mask: np.ndarray | None = None, background: Sequence[float | None] | None = None
) -> list[tuple[int, int]]:
    """Per-axis [lo, hi) of the non-background region of a (C, Z, Y, X) image; the whole image if it is all
    background."""
    mask = nonzero_mask(image, background) if mask is None else mask
    if not mask.any():
        return [(0, s) for s in mask.shape]
    bbox = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        bbox.append((int(present[0]), int(present[-1]) + 1))
    return bbox
