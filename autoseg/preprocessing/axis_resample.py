"""Resampling one axis at a time with a small matrix: the fast form of spline resampling on a grid.

A spline (or linear, or nearest-neighbour) resampling of a grid onto another grid is a tensor product of 1D
linear maps, one per axis: resampling the whole volume equals resampling axis after axis. Each 1D map is a
(new, old) matrix, built once by resampling the identity with scipy.ndimage.zoom exactly as skimage.resize
calls it (grid_mode=True, edge mode 'nearest'), so the result is what resize gave on the whole volume (up to
float32 rounding) at the cost of three matrix products, which BLAS (numpy, fork-safe) runs on every core: seconds for a
512x512x400 volume where resize took minutes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import ndimage

# Weights below this are treated as zero when finding which output rows a box of input voxels reaches (the
# cubic spline's prefilter makes every weight nonzero, but they fall off by 0.27 per voxel).
NEGLIGIBLE_WEIGHT = 1e-6


@lru_cache(maxsize=128)
def axis_weights(old: int, new: int, order: int) -> np.ndarray:
    """(new, old) float32: row i holds the weights of the old samples that make new sample i."""
    identity = np.eye(old, dtype=np.float64)
    weights = ndimage.zoom(identity, (new / old, 1.0), order=order, mode="nearest", grid_mode=True)
    if weights.shape != (new, old):
        raise RuntimeError(f"zoom made {weights.shape} weights for {old} -> {new} samples")
    return weights.astype(np.float32)  # shared by the cache: callers only read it


def apply_axis(data: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """`data` (float32, any dims) with `axis` mapped through weights (new, old): a matrix product per line."""
    shape = data.shape
    before, after = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1 :]))
    # numpy (OpenBLAS), not torch: torch's OpenMP pool hangs in a worker forked after the parent used it
    # (plan measures training speed, then preprocesses in forked workers).
    x = np.ascontiguousarray(data, dtype=np.float32).reshape(before, shape[axis], after)
    if after == 1:
        out = x[:, :, 0] @ weights.T
    elif before == 1:
        out = weights @ x[0]
    else:
        out = np.matmul(weights, x)
    return out.reshape(*shape[:axis], weights.shape[0], *shape[axis + 1 :])


def take_nearest(data: np.ndarray, new: int, axis: int) -> np.ndarray:
    """Nearest-neighbour along `axis`: an index, no arithmetic (exact for any dtype, labels included)."""
    index = axis_weights(data.shape[axis], new, 0).argmax(axis=1)
    return np.take(data, index, axis=axis)


def resample_separable(data: np.ndarray, new_shape: Sequence[int], orders: Sequence[int]) -> np.ndarray:
    """float32 `data` resampled to `new_shape` with spline order orders[a] along axis a. Axes that shrink go
    first, so the later (growing) passes work on the smallest array."""
    out = data
    axes = sorted(range(data.ndim), key=lambda a: new_shape[a] / data.shape[a])
    for axis in axes:
        if out.shape[axis] == new_shape[axis]:
            continue
        if orders[axis] == 0:
            out = take_nearest(out, new_shape[axis], axis)
        else:
            out = apply_axis(out, axis_weights(out.shape[axis], new_shape[axis], orders[axis]), axis)
    return np.ascontiguousarray(out, dtype=np.float32)


def resample_box(
    block: np.ndarray,
    box: Sequence[tuple[int, int]],
    old_shape: Sequence[int],
    new_shape: Sequence[int],
    orders: Sequence[int],
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Resample a map that is zero outside `box` (per-axis [lo, hi) of the old grid; `block` is its inside)
    and return the part of the result it reaches with that part's place on the new grid. Outside that place
    the result is zero (or below NEGLIGIBLE_WEIGHT of the map's values), so a small structure in a large
    volume costs only its own size."""
    out, region = block, []
    for axis, (lo, hi) in enumerate(box):
        if old_shape[axis] == new_shape[axis]:
            region.append(slice(lo, hi))
            continue
        weights = axis_weights(old_shape[axis], new_shape[axis], orders[axis])[:, lo:hi]
        rows = np.flatnonzero(np.abs(weights).max(axis=1) > NEGLIGIBLE_WEIGHT)
        first, last = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
        out = apply_axis(out, weights[first:last], axis)
        region.append(slice(first, last))
    return out, tuple(region)
