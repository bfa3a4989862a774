"""Sliding-window prediction with Gaussian importance weighting and mirror test-time augmentation.

Works on preprocessed volumes (C, Z, Y, X). A 2D network is slid over (1, Y, X) windows -- one slice at a time,
several windows per forward pass -- so one code path serves 2D and 3D. Logits are accumulated (weighted) and
turned into probabilities by the caller.

Speed and memory (issue 18):
- windows and their mirror variants go through the network together, as many per forward pass as
  `max_batch_voxels` allows (one pass per case for a small case such as Hippocampus with all 8 mirrorings);
- the image is never copied whole: each window is cut from it as it is needed;
- the accumulators are float16 when float32 ones would be large (accumulation_dtype), kept on the GPU when they
  fit and on the CPU otherwise, with a CPU retry when the GPU runs out of memory (as nnU-Net does).
"""
from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
from scipy import ndimage

from autoseg.errors import AutosegError
from autoseg.inference.placement import accumulation_dtype, run_with_cpu_fallback
from autoseg.utils.logs import get_logger

log = get_logger("predict")

MAX_BATCH_VOXELS = 1 << 20  # network inputs per forward pass, in voxels (windows x mirror variants)
FLOAT16_WEIGHT_SCALE, FLOAT16_MIN_WEIGHT = 10.0, 1e-5  # window weights for float16 accumulators (see _slide)


def check_step(step) -> float:
    """The step as a float when it is in (0, 1]: above 1 windows leave gaps no window covers (NaN logits there),
    0 or below never advances."""
    try:
        value = float(step)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= 1:  # NaN fails this too
        raise AutosegError(f"sliding-window step {step!r} is outside (0, 1]",
                           fix="pass --step between 0 and 1, e.g. 0.5 (the fraction of the patch each window moves "
                               "on; smaller overlaps more and is slower)")
    return value


@lru_cache(maxsize=8)
def gaussian_weights(patch: tuple[int, ...], sigma_scale: float = 0.125) -> torch.Tensor:
    """Importance of each voxel of a window: windows overlap, and their centres predict better than borders."""
    impulse = np.zeros(patch, dtype=np.float32)
    impulse[tuple(p // 2 for p in patch)] = 1
    weights = ndimage.gaussian_filter(impulse, [p * sigma_scale for p in patch], mode="constant")
    weights /= weights.max()
    weights = np.maximum(weights, weights[weights > 0].min())
    return torch.from_numpy(weights)


def window_starts(size: int, patch: int, step: float) -> list[int]:
    if size <= patch:
        return [0]
    n = int(np.ceil((size - patch) / (patch * step))) + 1
    return sorted({int(round(v)) for v in np.linspace(0, size - patch, n)})


def window_corners(shape: list[int], window: list[int], step: float) -> list[tuple[int, ...]]:
    """Every window's first voxel; the window count (what inference time grows with) is len() of this."""
    starts = [window_starts(s, w, step if w > 1 else 1.0) for s, w in zip(shape, window)]
    return list(itertools.product(*starts))


def mirror_variants(mirror_axes: tuple[int, ...]) -> list[tuple[int, ...]]:
    """No flip, then every combination of the mirror axes (all are averaged, as nnU-Net)."""
    return [()] + [c for r in range(1, len(mirror_axes) + 1) for c in itertools.combinations(mirror_axes, r)]


def inputs_per_pass(window: list[int], variants: int, windows: int, max_batch_voxels: int) -> int:
    """How many network inputs (window x mirror variant) one forward pass takes: as many as fit in
    max_batch_voxels, at least one, never more than there are."""
    return max(1, min(windows * variants, max_batch_voxels // max(1, math.prod(window))))


def _run(model, tiles: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    if spatial_dims == 2:
        return model(tiles[:, :, 0]).unsqueeze(2)
    return model(tiles)


@torch.no_grad()
def sliding_window_logits(model: torch.nn.Module, image: np.ndarray | torch.Tensor, patch_size: list[int],
                          num_classes: int, spatial_dims: int, step: float = 0.5,
                          mirror_axes: tuple[int, ...] = (), batch_size: int = 4,
                          device: torch.device = torch.device("cpu"), autocast=None,
                          channels_last: bool = False, max_batch_voxels: int = MAX_BATCH_VOXELS,
                          dtype: torch.dtype | None = None) -> torch.Tensor:
    """Weighted-average logits (K, Z, Y, X) on the CPU for a preprocessed image (C, Z, Y, X).

    `mirror_axes` are the network's spatial axes to mirror. `batch_size` is the least number of network inputs
    per forward pass; more go together while they fit in `max_batch_voxels`. `dtype` of the result (and of the
    accumulators): float16 for large outputs, float32 otherwise, unless given.
    """
    step = check_step(step)
    window = [1, *patch_size] if spatial_dims == 2 else list(patch_size)
    shape = list(image.shape[1:])
    padded = [max(s, w) for s, w in zip(shape, window)]
    dtype = dtype or accumulation_dtype(num_classes, padded)

    def slide(results_device: torch.device) -> torch.Tensor:
        return _slide(model, image, window, num_classes, spatial_dims, step, mirror_axes, batch_size, device,
                      autocast, channels_last, max_batch_voxels, dtype, results_device)

    logits = run_with_cpu_fallback(slide, device, (num_classes + 1) * math.prod(padded) * dtype.itemsize)
    return logits[(slice(None), *[slice(0, s) for s in shape])]


def _slide(model, image, window: list[int], num_classes: int, spatial_dims: int, step: float, mirror_axes,
           batch_size: int, device: torch.device, autocast, channels_last: bool, max_batch_voxels: int,
           dtype: torch.dtype, results_device: torch.device) -> torch.Tensor:
    shape = list(image.shape[1:])
    padded = [max(s, w) for s, w in zip(shape, window)]
    read = _window_reader(image, shape, padded)
    weights = gaussian_weights(tuple(window)).to(device=results_device, dtype=torch.float32)
    if dtype == torch.float16:
        # float16 holds 6e-5 at full precision and nothing below 6e-8, but the Gaussian's corners are ~1e-11:
        # scaled by 10 (it cancels in logits / total; nnU-Net does the same) and floored, no weight or weighted
        # logit vanishes, so no voxel ends as 0/0 and the blend changes only where all covering windows are tails.
        weights = (weights * FLOAT16_WEIGHT_SCALE).clamp(min=FLOAT16_MIN_WEIGHT)
    logits = torch.zeros((num_classes, *padded), dtype=dtype, device=results_device)
    total = torch.zeros(padded, dtype=dtype, device=results_device)
    corners = window_corners(padded, window, step)
    flips = mirror_variants(tuple(mirror_axes))
    offset = 3 - spatial_dims  # tile axes: (N, C, Z, Y, X); a 2D net's axis a is tile axis a + 1 + offset
    jobs = [(corner, flip) for corner in corners for flip in flips]
    per_pass = max(batch_size, inputs_per_pass(window, len(flips), len(corners), max_batch_voxels))
    context = autocast if autocast is not None else _null()
    pending: dict[tuple[int, ...], list] = {}  # window -> [sum of its variants' logits, variants seen]
    for i in range(0, len(jobs), per_pass):
        batch = jobs[i:i + per_pass]
        tiles = {corner: read(corner, window).to(device) for corner in dict.fromkeys(c for c, _ in batch)}
        inputs = torch.cat([_flip(tiles[corner], flip, offset) for corner, flip in batch])
        if channels_last and spatial_dims == 3:
            inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
        with context:
            outputs = _run(model, inputs, spatial_dims)
        for (corner, flip), out in zip(batch, outputs):
            out = _flip(out[None].float(), flip, offset)[0]
            entry = pending.setdefault(corner, [None, 0])
            entry[0] = out if entry[0] is None else entry[0] + out
            entry[1] += 1
            if entry[1] == len(flips):
                region = tuple(slice(c, c + w) for c, w in zip(corner, window))
                summed = pending.pop(corner)[0].to(results_device)
                logits[(slice(None), *region)] += (summed / len(flips)) * weights
                total[region] += weights
    logits /= total
    return logits.cpu()


def _flip(x: torch.Tensor, flip: tuple[int, ...], offset: int) -> torch.Tensor:
    dims = [a + 2 + offset for a in flip]
    return x.flip(dims) if dims else x


def _window_reader(image, shape: list[int], padded: list[int]) -> Callable:
    """(corner, window) -> the window's voxels (1, C, *window) as a float32 tensor, cut from the image as needed
    (no whole copy: cached images may be read-only memory maps; zero padding only for images smaller than a
    window, which are small)."""
    if padded != shape:
        source = np.zeros((image.shape[0], *padded), dtype=np.float32)
        source[(slice(None), *[slice(0, s) for s in shape])] = np.asarray(image, dtype=np.float32)
    else:
        source = image

    def read(corner, window) -> torch.Tensor:
        tile = source[(slice(None), *[slice(c, c + w) for c, w in zip(corner, window)])]
        if torch.is_tensor(tile):
            return tile.to(torch.float32)[None].clone()
        return torch.from_numpy(np.array(tile, dtype=np.float32))[None]
    return read


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
