"""The resampling of autoseg before issue 18 (skimage.resize per channel, per slice, one-hot float per class),
kept verbatim as the reference that autoseg/preprocessing/resample.py must stay numerically close to
(tests/test_resample_fast.py) and as the "before" of benchmarks/resampling/bench_resampling.py."""

from __future__ import annotations

import numpy as np
from skimage.transform import resize


def shape_at_spacing(shape: tuple[int, ...], spacing: tuple[float, ...], target: tuple[float, ...]) -> list[int]:
    return [max(1, int(round(s * sp / t))) for s, sp, t in zip(shape, spacing, target)]


def resample_array(
    data: np.ndarray, new_shape: list[int], order: int, anisotropic_axis: int | None = None, anisotropic_order: int = 0
) -> np.ndarray:
    """Resample every channel of (C, *spatial) float data to `new_shape`."""
    if tuple(data.shape[1:]) == tuple(new_shape):
        return data
    out = np.empty((data.shape[0], *new_shape), dtype=np.float32)
    for c in range(data.shape[0]):
        out[c] = _resample_channel(
            data[c].astype(np.float32, copy=False), new_shape, order, anisotropic_axis, anisotropic_order
        )
    return out


def resample_labels(
    labels: np.ndarray, new_shape: list[int], num_classes: int, order: int = 1, anisotropic_axis: int | None = None
) -> np.ndarray:
    """Resample an integer label map (spatial) via its one-hot encoding."""
    if tuple(labels.shape) == tuple(new_shape):
        return labels
    best = np.full(new_shape, -np.inf, dtype=np.float32)
    out = np.zeros(new_shape, dtype=labels.dtype)
    for value in np.unique(labels):
        score = _resample_channel((labels == value).astype(np.float32), new_shape, order, anisotropic_axis, 0)
        better = score > best
        out[better] = value
        best[better] = score[better]
    return out


def _resample_channel(
    channel: np.ndarray, new_shape: list[int], order: int, anisotropic_axis: int | None, anisotropic_order: int
) -> np.ndarray:
    if anisotropic_axis is None or channel.ndim != 3:
        return resize(channel, new_shape, order=order, mode="edge", anti_aliasing=False, preserve_range=True).astype(
            np.float32
        )
    axis = anisotropic_axis
    moved = np.moveaxis(channel, axis, 0)
    plane_shape = [s for a, s in enumerate(new_shape) if a != axis]
    planes = np.stack(
        [resize(p, plane_shape, order=order, mode="edge", anti_aliasing=False, preserve_range=True) for p in moved]
    ).astype(np.float32)
    if planes.shape[0] != new_shape[axis]:
        planes = resize(
            planes,
            [new_shape[axis], *plane_shape],
            order=anisotropic_order,
            mode="edge",
            anti_aliasing=False,
            preserve_range=True,
        ).astype(np.float32)
    return np.moveaxis(planes, 0, axis)
