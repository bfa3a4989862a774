"""Target spacing and axis order.

The median spacing keeps most images near their native resolution. When one axis is more than
`anisotropy_threshold` times coarser than the others, the median would blur the many finely sampled images of
that axis, so it takes its 10th percentile instead (never finer than the other axes).
"""

from __future__ import annotations

import numpy as np

from autoseg.data.geometry import SPACING_OF_2D_Z_AXIS


def target_spacing(
    median: list[float], percentile_10: list[float], anisotropy_threshold: float = 3.0
) -> tuple[list[float], str]:
    spacing = np.array(median, dtype=float)
    if spacing[0] >= SPACING_OF_2D_Z_AXIS:
        return spacing.tolist(), "2D images: in-plane median spacing"
    coarse = int(np.argmax(spacing))
    others = np.delete(spacing, coarse)
    if spacing[coarse] > anisotropy_threshold * others.max():
        chosen = max(float(percentile_10[coarse]), float(others.max()) + 1e-5)
        reason = (
            f"axis {coarse} is {spacing[coarse] / others.max():.1f}x coarser than the others (threshold "
            f"{anisotropy_threshold}): it takes the 10th percentile of its spacings, {chosen:.4g}"
            + (
                f" instead of the median {spacing[coarse]:.4g}, so finely sampled images are not blurred"
                if abs(chosen - spacing[coarse]) > 1e-6
                else " (the same as the median here)"
            )
        )
        spacing[coarse] = chosen
        return spacing.tolist(), reason
    return spacing.tolist(), f"median spacing {np.round(spacing, 4).tolist()}"


def axis_transpose(spacing: list[float]) -> tuple[list[int], list[int]]:
    """Put the coarsest axis first, so 2D models slice across it and kernels of shape 1xKxK apply to it."""
    coarse = int(np.argmax(spacing))
    forward = [coarse] + [a for a in range(len(spacing)) if a != coarse]
    backward = [int(i) for i in np.argsort(forward)]
    return forward, backward


def is_anisotropic(spacing: list[float], threshold: float = 3.0) -> bool:
    spacing = np.asarray(spacing, dtype=float)
    return bool(spacing.max() > threshold * np.min(spacing))
