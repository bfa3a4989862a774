"""Undo preprocessing on a prediction: resample back to the cropped grid, un-crop, un-transpose.

Works on per-class probability maps, so the final argmax happens on the original voxel grid (as nnU-Net does);
the geometry is then exactly the input's (see Geometry).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoseg.preprocessing.resample import resample_array


def restore_probabilities(
    probabilities: np.ndarray, properties: dict[str, Any], transpose_backward: list[int], background: bool = True
) -> np.ndarray:
    """(K, *preprocessed shape) -> (K, *original image shape in numpy order), in the probabilities' dtype;
    outside the crop channel 0 is 1 (background) and the rest 0 (all 0 with background=False, for regions).

    One channel at a time is resampled and written straight into its place in the un-transposed output, so the
    only K-channel array made is the result (a 512x512x400 CT: no K x 100 M float32 stacks on the way)."""
    dtype = probabilities.dtype if probabilities.dtype in (np.float16, np.float32) else np.float32
    transposed = list(properties["shape_transposed"])
    original = [transposed[a] for a in transpose_backward]
    full = np.zeros((probabilities.shape[0], *original), dtype=dtype)
    # The output seen in preprocessing's axis order: writes into this view land un-transposed in `full`.
    view = full.transpose([0] + [int(a) + 1 for a in np.argsort(transpose_backward)])
    if background:
        view[0] = 1.0
    region = tuple(slice(lo, hi) for lo, hi in properties["bbox"])
    for channel in range(probabilities.shape[0]):
        cropped = resample_array(probabilities[channel : channel + 1], properties["shape_after_crop"], order=1)
        view[(channel, *region)] = cropped[0]
    return full


def restore_array(
    array: np.ndarray, properties: dict[str, Any], transpose_backward: list[int], order: int = 0, fill: float = 0.0
) -> np.ndarray:
    """Like restore_probabilities for a single-channel map (e.g. a label map or an uncertainty map)."""
    cropped = resample_array(array[None].astype(np.float32), properties["shape_after_crop"], order=order)[0]
    full = np.full(properties["shape_transposed"], fill, dtype=np.float32)
    full[tuple(slice(lo, hi) for lo, hi in properties["bbox"])] = cropped
    return np.ascontiguousarray(full.transpose(transpose_backward))
