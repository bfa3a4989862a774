"""One case through preprocessing: transpose, crop to the non-background region (zero, or the constant a
channel planned with constant_background shows on this image's border), normalise, resample; and the record of
every step (`properties`) that prediction needs to undo them exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoseg.data.geometry import Geometry
from autoseg.data.nonzero import channel_backgrounds, nonzero_bbox, nonzero_mask
from autoseg.data.normalize import normalize_image
from autoseg.preprocessing.resample import resample_array, resample_labels, shape_at_spacing
from autoseg.schema.plans import Configuration, Plans

# Foreground voxel positions kept per class, for sampling patches centred on foreground.
LOCATIONS_PER_CLASS = 2000


def target_spacing_for(config: Configuration, spacing_t: list[float]) -> list[float]:
    target = list(config.spacing)
    for axis in config.resampling.keep_native_axes:
        target[axis] = spacing_t[axis]
    return target


def preprocess_arrays(
    image: np.ndarray,
    geometry: Geometry,
    plans: Plans,
    config: Configuration,
    label: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    forward = plans.transpose_forward
    image = np.ascontiguousarray(image.transpose([0] + [a + 1 for a in forward]))
    spacing_t = [geometry.spacing[a] for a in forward]
    shape_t = list(image.shape[1:])
    background = channel_backgrounds(image, [n.constant_background for n in config.normalization])
    mask = nonzero_mask(image, background)
    bbox = nonzero_bbox(image, mask)
    crop = tuple(slice(lo, hi) for lo, hi in bbox)
    image = image[(slice(None), *crop)]
    mask = mask[crop]
    image = normalize_image(image, config.normalization, mask)
    target = target_spacing_for(config, spacing_t)
    new_shape = shape_at_spacing(image.shape[1:], spacing_t, target)
    anisotropic = config.resampling.anisotropic_axis
    image = resample_array(
        image, new_shape, config.resampling.image_order, anisotropic, config.resampling.anisotropic_order
    )
    properties: dict[str, Any] = {
        "geometry": geometry.to_dict(),
        "shape_transposed": shape_t,
        "spacing_transposed": spacing_t,
        "bbox": [list(b) for b in bbox],
        "background_values": background,
        "shape_after_crop": [hi - lo for lo, hi in bbox],
        "target_spacing": target,
        "shape_after_resample": new_shape,
    }
    seg = None
    if label is not None:
        label = np.ascontiguousarray(label.transpose(forward))[crop]
        seg = resample_labels(label, new_shape, plans.num_classes, config.resampling.label_order, anisotropic)
        seg = seg.astype(label_dtype(plans))
        properties["class_locations"] = class_locations(seg, plans.num_classes, seed)
    return image.astype(np.float32, copy=False), seg, properties


def label_dtype(plans: Plans) -> np.dtype:
    """The smallest signed integer type holding every stored label value, the ignore label included
    (an ignore label of 255 would wrap to -1 in int8)."""
    largest = max(plans.num_classes - 1, plans.ignore_label or 0)
    for dtype in (np.int8, np.int16, np.int32):
        if largest <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def class_locations(seg: np.ndarray, num_classes: int, seed: int) -> dict[str, list[list[int]]]:
    rng = np.random.default_rng(seed)
    locations = {}
    for value in range(1, num_classes):
        where = np.argwhere(seg == value)
        if len(where) > LOCATIONS_PER_CLASS:
            where = where[rng.choice(len(where), LOCATIONS_PER_CLASS, replace=False)]
        locations[str(value)] = where.astype(int).tolist()
    return locations


def label_on_preprocessed_grid(
    label: np.ndarray, properties: dict[str, Any], plans: Plans, config: Configuration
) -> np.ndarray:
    """A label map in original geometry (e.g. a previous cascade stage's prediction) brought onto the grid a
    case was preprocessed to, using the case's recorded properties (transpose, crop, resample)."""
    label = np.ascontiguousarray(label.transpose(plans.transpose_forward))
    label = label[tuple(slice(lo, hi) for lo, hi in properties["bbox"])]
    return resample_labels(
        label,
        properties["shape_after_resample"],
        plans.num_classes,
        config.resampling.label_order,
        config.resampling.anisotropic_axis,
    )


def one_hot_foreground(label: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """(num_classes - 1, *spatial) 0/1 channels: how a cascade stage receives the previous prediction."""
    return np.stack([(label == k).astype(dtype) for k in range(1, num_classes)])
