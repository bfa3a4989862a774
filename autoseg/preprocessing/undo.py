"""Undo preprocessing on a prediction: resample back to the cropped grid, un-crop, un-transpose.

Works on per-class probability maps, so the final argmax happens on the original voxel grid (as nnU-Net does);
the geometry is then exactly the input's (see Geometry).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autoseg.preprocessing.resample import resample_array


def restore_probabilities(probabilities: np.ndarray, properties: dict[str, Any],
                          transpose_backward: list[int]) -> np.ndarray:
    """(K, *preprocessed shape) -> (K, *original image shape in numpy order), background outside the crop."""
    cropped = resample_array(probabilities, properties["shape_after_crop"], order=1)
    full = np.zeros((probabilities.shape[0], *properties["shape_transposed"]), dtype=np.float32)
    full[0] = 1.0
    region = tuple(slice(lo, hi) for lo, hi in properties["bbox"])
    full[(slice(None), *region)] = cropped
    return np.ascontiguousarray(full.transpose([0] + [a + 1 for a in transpose_backward]))


def restore_array(array: np.ndarray, properties: dict[str, Any], transpose_backward: list[int],
                  order: int = 0, fill: float = 0.0) -> np.ndarray:
    """Like restore_probabilities for a single-channel map (e.g. a label map or an uncertainty map)."""
    cropped = resample_array(array[None].astype(np.float32), properties["shape_after_crop"], order=order)[0]
    full = np.full(properties["shape_transposed"], fill, dtype=np.float32)
    full[tuple(slice(lo, hi) for lo, hi in properties["bbox"])] = cropped
    return np.ascontiguousarray(full.transpose(transpose_backward))
