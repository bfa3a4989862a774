"""One synthetic image with its label map, made to look like a simple scan and to be learnable.

What is in it, and why:
- a body (a perturbed ellipse/ellipsoid) with exactly zero outside, so cropping to nonzero has work to do;
- soft tissue texture inside the body, a smooth multiplicative bias field and Gaussian noise, as in MRI;
- class 1 "organ": a perturbed ellipsoid at a random place inside the body, brighter than tissue;
- class 2 "lesion": a smaller, darker ellipsoid inside the organ (nested, like a tumour in its organ);
- classes 3+ "structure_k": further blobs elsewhere in the body with their own intensities;
- a per-case intensity scale, so per-image normalisation matters.
Every channel shows every class, each channel with its own contrast. Sizes are in millimetres, so an
anisotropic spacing makes objects span few slices, as in real anisotropic scans.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Relative intensity of each class in channel 0 (index = class; 0 = body tissue); more classes cycle on.
CLASS_CONTRAST = (1.0, 1.6, 0.5, 2.1, 0.25, 1.35)
# Odd channels invert the contrast around this value (like T1 vs T2 weighting), so channels add information.
INVERSION_PIVOT = 2.2
BIAS_AMPLITUDE = 0.15
TEXTURE_AMPLITUDE = 0.05
# Mean intensity of tissue; each case is scaled by a random factor around it.
INTENSITY_SCALE = 100.0


def synthetic_case(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    spacing: tuple[float, ...],
    num_classes: int = 3,
    num_channels: int = 1,
    noise: float = 0.08,
) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (C, *shape), label uint8 (*shape)) for a 2D or 3D `shape` with `spacing` in mm."""
    shape, spacing = tuple(int(s) for s in shape), tuple(float(s) for s in spacing)
    coords = _physical_coordinates(shape, spacing)
    half_extent = np.array([n * s / 2 for n, s in zip(shape, spacing)])
    wobble = _smooth_field(rng, shape, spacing, scale_mm=0.25 * half_extent.min())

    body_radii = half_extent * rng.uniform(0.75, 0.9, len(shape))
    if len(shape) == 3:
        body_radii[0] = half_extent[0] * rng.uniform(1.1, 1.4)  # the body runs through the slices
    body_centre = rng.uniform(-0.05, 0.05, len(shape)) * half_extent
    body = _blob(coords, body_centre, body_radii, rng.uniform(0, np.pi), wobble, 0.05)

    label = np.zeros(shape, np.uint8)
    organ_centre, organ_radii = _organ_placement(rng, body_centre, body_radii)
    placements = [(organ_centre, organ_radii)]
    if num_classes > 2:
        lesion_centre = organ_centre + rng.uniform(-0.35, 0.35, len(shape)) * organ_radii
        placements.append((lesion_centre, organ_radii * rng.uniform(0.45, 0.6, len(shape))))
    for _ in range(3, num_classes):
        placements.append(_organ_placement(rng, body_centre, body_radii, size=(0.15, 0.25)))
    for cls, (centre, radii) in enumerate(placements, start=1):
        label[_blob(coords, centre, radii, rng.uniform(0, np.pi), wobble, 0.12) & body] = cls

    texture = ndimage.gaussian_filter(rng.normal(size=shape), [max(1.5 * min(spacing) / s, 0.3) for s in spacing])
    texture *= TEXTURE_AMPLITUDE / max(float(np.abs(texture).max()), 1e-6)
    bias = 1.0 + BIAS_AMPLITUDE * _smooth_field(rng, shape, spacing, scale_mm=half_extent.max())
    scale = INTENSITY_SCALE * rng.uniform(0.8, 1.2)
    channels = []
    for channel in range(num_channels):
        contrast = np.array([_contrast(cls, channel) for cls in range(num_classes)], np.float32)
        clean = ndimage.gaussian_filter(contrast[label], 0.6) + texture  # partial volume at edges
        noisy = (clean * bias + rng.normal(0.0, noise, shape)) * scale * rng.uniform(0.9, 1.1)
        channels.append(np.where(body, np.maximum(noisy, 0.01 * scale), 0.0))
    return np.stack(channels).astype(np.float32), label


def _contrast(cls: int, channel: int) -> float:
    value = CLASS_CONTRAST[cls % len(CLASS_CONTRAST)]
    return value if channel % 2 == 0 else INVERSION_PIVOT - value


def _organ_placement(rng, body_centre, body_radii, size=(0.35, 0.5)):
    centre = body_centre + rng.uniform(-0.35, 0.35, len(body_radii)) * body_radii
    return centre, body_radii * rng.uniform(*size, len(body_radii))


def _physical_coordinates(shape, spacing) -> list[np.ndarray]:
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)]
    return np.meshgrid(*axes, indexing="ij", sparse=True)


def _blob(coords, centre, radii, angle, wobble, wobble_amount) -> np.ndarray:
    """Ellipsoid rotated in the last two axes (the image plane), its border perturbed by the smooth `wobble`."""
    offsets = [c - m for c, m in zip(coords, centre)]
    y, x = offsets[-2], offsets[-1]
    offsets[-2], offsets[-1] = np.cos(angle) * y - np.sin(angle) * x, np.sin(angle) * y + np.cos(angle) * x
    distance = sum((o / r) ** 2 for o, r in zip(offsets, radii))
    return distance < (1.0 + wobble_amount * wobble) ** 2


def _smooth_field(rng, shape, spacing, scale_mm: float) -> np.ndarray:
    """Random field varying over about `scale_mm`, scaled to [-1, 1]: coarse noise blended up axis by axis
    with Gaussian weights (separable, so far cheaper than filtering or spline-zooming the full grid)."""
    coarse_shape = [int(np.clip(round(n * s / scale_mm) + 2, 2, n)) for n, s in zip(shape, spacing)]
    field = rng.normal(size=coarse_shape)
    for axis, (n, c) in enumerate(zip(shape, coarse_shape)):
        positions = np.linspace(0.0, c - 1.0, n)[:, None]
        weights = np.exp(-0.5 * ((positions - np.arange(c)[None, :]) / 0.7) ** 2)
        weights /= weights.sum(axis=1, keepdims=True)
        field = np.moveaxis(np.tensordot(weights, field, axes=([1], [axis])), 0, axis)
    peak = np.abs(field).max()
    return field / peak if peak > 0 else field
