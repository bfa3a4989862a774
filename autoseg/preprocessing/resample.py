"""Resampling between spacings without interpolation artefacts in label maps.

- Images: spline order 3 (planned), edges repeated, clipped to the input's range (as skimage.resize did).
- Label maps: each class as a one-hot map resampled with order 1, then the most likely class per voxel, so
  labels never get values between classes and thin structures survive better than with nearest neighbour.
- Anisotropic data: the coarse axis separately with nearest neighbour (order 0), because interpolating across
  thick slices invents anatomy between them; in-plane with the planned order.

Speed (axis_resample.py): every axis is one matrix product, and a label class is resampled only inside its
own bounding box, the most frequent class (background) not at all: one-hot maps of a linear resampling sum to
one, so its score is one minus the others'. The results match the former skimage.resize implementation up to
float32 rounding (tests/test_resample_fast.py).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from autoseg.preprocessing.axis_resample import resample_box, resample_separable, take_nearest

# Scores closer than this count as a tie, which the smaller label value wins (as the former class-by-class
# loop in ascending order did); float32 sums of the other classes' scores are this exact.
TIE_TOLERANCE = 1e-5


def shape_at_spacing(shape: tuple[int, ...], spacing: tuple[float, ...], target: tuple[float, ...]) -> list[int]:
    return [max(1, int(round(s * sp / t))) for s, sp, t in zip(shape, spacing, target)]


def axis_orders(ndim: int, order: int, anisotropic_axis: int | None, anisotropic_order: int) -> list[int]:
    """The spline order per axis: `order`, except `anisotropic_order` along a 3D volume's anisotropic axis."""
    return [anisotropic_order if (a == anisotropic_axis and ndim == 3) else order for a in range(ndim)]


def resample_array(
    data: np.ndarray, new_shape: list[int], order: int, anisotropic_axis: int | None = None, anisotropic_order: int = 0
) -> np.ndarray:
    """Resample every channel of (C, *spatial) float data to `new_shape`."""
    if tuple(data.shape[1:]) == tuple(new_shape):
        return data
    orders = axis_orders(data.ndim - 1, order, anisotropic_axis, anisotropic_order)
    out = np.empty((data.shape[0], *new_shape), dtype=np.float32)
    for c in range(data.shape[0]):
        out[c] = _resample_channel(data[c].astype(np.float32, copy=False), new_shape, orders, anisotropic_axis)
    return out


def _resample_channel(
    channel: np.ndarray, new_shape: Sequence[int], orders: list[int], anisotropic_axis: int | None
) -> np.ndarray:
    if max(orders) <= 1:  # linear and nearest stay inside the input's range: nothing to clip
        return resample_separable(channel, new_shape, orders)
    if anisotropic_axis is None or channel.ndim != 3:
        out = resample_separable(channel, new_shape, orders)
        return np.clip(out, channel.min(), channel.max(), out=out)
    # In-plane first, each slice clipped to its own range (splines overshoot at edges), then across slices.
    axis = anisotropic_axis
    in_plane = [channel.shape[a] if a == axis else new_shape[a] for a in range(channel.ndim)]
    planes = resample_separable(channel, in_plane, orders)
    other = tuple(a for a in range(channel.ndim) if a != axis)
    np.clip(planes, channel.min(axis=other, keepdims=True), channel.max(axis=other, keepdims=True), out=planes)
    return resample_separable(planes, new_shape, orders)


def resample_labels(
    labels: np.ndarray, new_shape: list[int], num_classes: int, order: int = 1, anisotropic_axis: int | None = None
) -> np.ndarray:
    """Resample an integer label map (spatial) via its one-hot encoding (class by class, inside each class's
    bounding box); `num_classes` is kept for callers, the classes are those present."""
    if tuple(labels.shape) == tuple(new_shape):
        return labels
    orders = axis_orders(labels.ndim, order, anisotropic_axis, 0)
    if max(orders) == 0:
        return _nearest(labels, new_shape)
    values, counts = _value_counts(labels)
    dominant = values[int(np.argmax(counts))]
    out = np.full(new_shape, dominant, dtype=labels.dtype)
    if len(values) == 1:
        return out
    others_total = np.zeros(new_shape, np.float32)
    best = np.zeros(new_shape, np.float32)
    best_value = np.full(new_shape, dominant, dtype=labels.dtype)
    for value in values:
        if value == dominant:
            continue
        mask = labels == value
        box = _bounding_box(mask)
        score, region = resample_box(
            mask[tuple(slice(lo, hi) for lo, hi in box)].astype(np.float32), box, labels.shape, new_shape, orders
        )
        others_total[region] += score
        # Ascending values with a strict '>' : a tie between two classes goes to the smaller value.
        better = score > best[region]
        best[region][better] = score[better]
        best_value[region][better] = value
    # In place (a large volume holds several of these): margin = best other score - the dominant's score.
    margin = np.subtract(best, np.subtract(1.0, others_total, out=others_total), out=others_total)
    wins = margin > TIE_TOLERANCE
    wins |= (margin >= -TIE_TOLERANCE) & (best_value < dominant) & (best > 0)
    out[wins] = best_value[wins]
    return out


def _nearest(labels: np.ndarray, new_shape: Sequence[int]) -> np.ndarray:
    out = labels
    for axis, size in enumerate(new_shape):
        if out.shape[axis] != size:
            out = take_nearest(out, size, axis)
    return np.ascontiguousarray(out)


def _value_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values present in ascending order with their voxel counts (bincount: far faster than unique's sort)."""
    if labels.size and np.issubdtype(labels.dtype, np.integer) and labels.min() >= 0:
        counts = np.bincount(labels.ravel())
        values = np.flatnonzero(counts)
        return values.astype(labels.dtype), counts[values]
    return np.unique(labels, return_counts=True)


def _bounding_box(mask: np.ndarray) -> list[tuple[int, int]]:
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        box.append((int(present[0]), int(present[-1]) + 1))
    return box
