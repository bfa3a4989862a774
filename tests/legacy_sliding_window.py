"""The sliding window as it was before issue 18 (float32 accumulators, one forward pass per mirror variant),
kept as the reference the new one must equal (tests/test_sliding_window_equivalence.py)."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from autoseg.errors import AutosegError


def check_step(step) -> float:
    """The step as a float when it is in (0, 1]: above 1 windows leave gaps no window covers (NaN logits there),
    0 or below never advances."""
    try:
        value = float(step)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value <= 1:  # NaN fails this too
        raise AutosegError(
            f"sliding-window step {step!r} is outside (0, 1]",
            fix="pass --step between 0 and 1, e.g. 0.5 (the fraction of the patch each window moves "
            "on; smaller overlaps more and is slower)",
        )
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


def _run(model, tiles: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    if spatial_dims == 2:
        return model(tiles[:, :, 0]).unsqueeze(2)
    return model(tiles)


@torch.no_grad()
def sliding_window_logits(
    model: torch.nn.Module,
    image: np.ndarray | torch.Tensor,
    patch_size: list[int],
    num_classes: int,
    spatial_dims: int,
    step: float = 0.5,
    mirror_axes: tuple[int, ...] = (),
    batch_size: int = 4,
    device: torch.device = torch.device("cpu"),
    autocast=None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Weighted-average logits (K, Z, Y, X) on the CPU for a preprocessed image (C, Z, Y, X).

    `mirror_axes` are the network's spatial axes to mirror (all combinations are averaged, as nnU-Net).
    """
    step = check_step(step)
    if not torch.is_tensor(image):
        image = torch.from_numpy(np.array(image, dtype=np.float32))  # a copy: cached arrays may be read-only maps
    window = [1, *patch_size] if spatial_dims == 2 else list(patch_size)
    shape = list(image.shape[1:])
    padded = [max(s, w) for s, w in zip(shape, window)]
    if padded != shape:
        image = F.pad(image, [p for s, pad in zip(reversed(shape), reversed(padded)) for p in (0, pad - s)])
    weights = gaussian_weights(tuple(window)).to(torch.float32)
    logits = torch.zeros((num_classes, *padded), dtype=torch.float32)
    total = torch.zeros(padded, dtype=torch.float32)
    starts = [window_starts(s, w, step if w > 1 else 1.0) for s, w in zip(padded, window)]
    corners = list(itertools.product(*starts))
    offset = 3 - spatial_dims  # tile axes: (N, C, Z, Y, X); a 2D net's axis a is tile axis a + 1 + offset
    flips = [()] + [c for r in range(1, len(mirror_axes) + 1) for c in itertools.combinations(mirror_axes, r)]
    context = autocast if autocast is not None else _null()
    for i in range(0, len(corners), batch_size):
        batch = corners[i : i + batch_size]
        tiles = torch.stack(
            [image[(slice(None), *[slice(c, c + w) for c, w in zip(corner, window)])] for corner in batch]
        ).to(device)
        if channels_last and spatial_dims == 3:
            tiles = tiles.contiguous(memory_format=torch.channels_last_3d)
        summed = None
        for flip in flips:
            dims = [a + 2 + offset for a in flip]
            x = tiles.flip(dims) if dims else tiles
            with context:
                out = _run(model, x, spatial_dims).float()
            out = out.flip(dims) if dims else out
            summed = out if summed is None else summed + out
        summed = (summed / len(flips)).cpu()
        for corner, tile in zip(batch, summed):
            region = tuple(slice(c, c + w) for c, w in zip(corner, window))
            logits[(slice(None), *region)] += tile * weights
            total[region] += weights
    logits /= total
    return logits[(slice(None), *[slice(0, s) for s in shape])]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
