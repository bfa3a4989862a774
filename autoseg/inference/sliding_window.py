"""Sliding-window prediction with a torch network: Gaussian importance weighting and mirror test-time augmentation.

Works on preprocessed volumes (C, Z, Y, X). A 2D network is slid over (1, Y, X) windows -- one slice at a time,
several windows per forward pass -- so one code path serves 2D and 3D. Logits are accumulated (weighted) and
turned into probabilities by the caller.

Two halves, as MONAI's inferers separate them: window_splitter.py says where the windows go and which go through
the network together (no torch: the ONNX backend slides the same windows); window_merger.py accumulates their
outputs and owns the float16 and CPU/GPU placement decisions. This module runs a torch network between them.

Speed and memory (issue 18):
- windows and their mirror variants go through the network together, as many per forward pass as
  `max_batch_voxels` allows (one pass per case for a small case such as Hippocampus with all 8 mirrorings);
- the image is never copied whole: each window is cut from it as it is needed;
- the accumulators are float16 when float32 ones would be large (accumulation_dtype), kept on the GPU when they
  fit and on the CPU otherwise, with a CPU retry when the GPU runs out of memory (as nnU-Net does).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import torch

from autoseg.inference.placement import accumulation_dtype
from autoseg.inference.window_merger import FLOAT16_MIN_WEIGHT, FLOAT16_WEIGHT_SCALE, TorchMerger, merge_on_best_device  # noqa: F401
from autoseg.inference.window_splitter import (  # noqa: F401
    MAX_BATCH_VOXELS,
    WindowGrid,
    check_step,
    gaussian_weight_array,
    inputs_per_pass,
    mirror_variants,
    padded_source,
    read_window,
    run_passes,
    window_corners,
    window_starts,
)
from autoseg.utils.logs import get_logger

log = get_logger("predict")


@lru_cache(maxsize=8)
def gaussian_weights(patch: tuple[int, ...], sigma_scale: float = 0.125) -> torch.Tensor:
    """Importance of each voxel of a window, as a tensor (window_splitter.gaussian_weight_array)."""
    return torch.from_numpy(gaussian_weight_array(patch, sigma_scale).copy())


@dataclass(frozen=True)
class SlideOptions:
    """How one network is slid over one volume: what used to be _slide's fourteen positional parameters."""

    grid: WindowGrid
    num_classes: int
    spatial_dims: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    autocast: Any = None  # a torch.autocast context for bf16/fp16, None for fp32
    channels_last: bool = False  # 3D inputs in channels_last_3d memory (faster convolutions on CPU)
    dtype: torch.dtype = torch.float32  # of the accumulators and the result


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
    *,
    step: float = 0.5,
    mirror_axes: tuple[int, ...] = (),
    batch_size: int = 4,
    device: torch.device = torch.device("cpu"),
    autocast=None,
    channels_last: bool = False,
    max_batch_voxels: int = MAX_BATCH_VOXELS,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Weighted-average logits (K, Z, Y, X) on the CPU for a preprocessed image (C, Z, Y, X).

    `mirror_axes` are the network's spatial axes to mirror. `batch_size` is the least number of network inputs
    per forward pass; more go together while they fit in `max_batch_voxels`. `dtype` of the result (and of the
    accumulators): float16 for large outputs, float32 otherwise, unless given.
    """
    grid = WindowGrid.of(
        image.shape[1:],
        patch_size,
        spatial_dims,
        step,
        mirror_axes=mirror_axes,
        batch_size=batch_size,
        max_batch_voxels=max_batch_voxels,
    )
    options = SlideOptions(
        grid,
        num_classes,
        spatial_dims,
        device,
        autocast,
        channels_last,
        dtype or accumulation_dtype(num_classes, grid.padded),
    )
    logits = merge_on_best_device(
        lambda results_device: _slide(model, image, options, results_device), device, num_classes, grid, options.dtype
    )
    return logits[(slice(None), *[slice(0, s) for s in grid.shape])]


def _slide(model, image, options: SlideOptions, results_device: torch.device) -> torch.Tensor:
    grid = options.grid
    merger = TorchMerger(grid, options.num_classes, options.dtype, results_device)
    read = _window_reader(image, grid)
    context = options.autocast if options.autocast is not None else nullcontext()

    def join(tiles: list[torch.Tensor]) -> torch.Tensor:
        inputs = torch.cat(tiles)
        if options.channels_last and options.spatial_dims == 3:
            inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
        return inputs

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        with context:
            return _run(model, inputs, options.spatial_dims)

    def unflip(x: torch.Tensor, flip: tuple[int, ...]) -> torch.Tensor:
        dims = grid.mirror_dims(flip)
        return x.float().flip(dims) if dims else x.float()

    run_passes(grid, lambda corner: read(corner).to(options.device), join, forward, unflip, merger.add)
    return merger.result()


def _window_reader(image, grid: WindowGrid) -> Callable[[tuple[int, ...]], torch.Tensor]:
    """corner -> the window's voxels (1, C, *window) as a float32 tensor, cut from the image as needed."""
    if torch.is_tensor(image):
        source = image if grid.padded == grid.shape else torch.from_numpy(padded_source(image.cpu(), grid))
        return lambda corner: source[(slice(None), *grid.region(corner))].to(torch.float32)[None].clone()
    source = padded_source(image, grid)
    return lambda corner: torch.from_numpy(read_window(source, grid, corner))
