"""How window outputs are accumulated (the merger half of the sliding window; window_splitter.py says where the
windows go). Two mergers with one interface -- add(corner, flip, logits), result() -- and the same arithmetic:
TorchMerger (tensors, on the GPU when they fit) and NumpyMerger (the ONNX backend's, no torch).

The mirror variants of a window are averaged first, then the window's mean is added Gaussian-weighted; at the
end the weighted sum is divided by the summed weights. The accumulators are float16 when float32 ones would be
large (placement.py): the Gaussian's tiny corner weights are then scaled and floored so no weight or weighted
logit vanishes (see FLOAT16_WEIGHT_SCALE).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from autoseg.inference.window_splitter import WindowGrid, gaussian_weight_array

if TYPE_CHECKING:
    import torch

# float16 holds 6e-5 at full precision and nothing below 6e-8, but the Gaussian's corners are ~1e-11: scaled by 10
# (it cancels in logits / total; nnU-Net does the same) and floored, no weight or weighted logit vanishes, so no
# voxel ends as 0/0 and the blend changes only where all covering windows are tails.
FLOAT16_WEIGHT_SCALE, FLOAT16_MIN_WEIGHT = 10.0, 1e-5


def window_weights(window: tuple[int, ...], compact: bool) -> np.ndarray:
    """The Gaussian weights of a window, scaled and floored for float16 (`compact`) accumulators."""
    weights = gaussian_weight_array(window)
    if compact:
        weights = np.maximum(weights * np.float32(FLOAT16_WEIGHT_SCALE), np.float32(FLOAT16_MIN_WEIGHT))
    return weights


class _VariantMean:
    """Sums a window's mirror-variant outputs until all have come, then hands their mean to `done`."""

    def __init__(self, variants: int, done: Callable[[tuple[int, ...], Any], None]):
        self.variants, self.done = variants, done
        self.pending: dict[tuple[int, ...], list] = {}  # window -> [sum of its variants' logits, variants seen]

    def add(self, corner: tuple[int, ...], flip: tuple[int, ...], logits) -> None:
        entry = self.pending.setdefault(corner, [None, 0])
        entry[0] = logits if entry[0] is None else entry[0] + logits
        entry[1] += 1
        if entry[1] == self.variants:
            self.done(corner, self.pending.pop(corner)[0] / self.variants)


class TorchMerger:
    """Accumulates on `device` (the results device placement.py chose) in `dtype`; result() is on the CPU."""

    def __init__(self, grid: WindowGrid, num_classes: int, dtype: "torch.dtype", device: "torch.device"):
        import torch

        self.grid, self.device = grid, device
        compact = dtype == torch.float16
        self.weights = torch.from_numpy(window_weights(grid.window, compact).copy()).to(device)
        self.logits = torch.zeros((num_classes, *grid.padded), dtype=dtype, device=device)
        self.total = torch.zeros(grid.padded, dtype=dtype, device=device)
        self._mean = _VariantMean(len(grid.flips), self._add_window)
        self.add = self._mean.add

    def _add_window(self, corner: tuple[int, ...], mean: "torch.Tensor") -> None:
        region = self.grid.region(corner)
        self.logits[(slice(None), *region)] += mean.to(self.device) * self.weights
        self.total[region] += self.weights

    def result(self) -> "torch.Tensor":
        self.logits /= self.total
        return self.logits.cpu()


class NumpyMerger:
    """The same accumulation in numpy arrays (float16 when `compact`), for backends without torch."""

    def __init__(self, grid: WindowGrid, num_classes: int, compact: bool):
        dtype = np.float16 if compact else np.float32
        self.grid = grid
        self.weights = window_weights(grid.window, compact)
        self.logits = np.zeros((num_classes, *grid.padded), dtype=dtype)
        self.total = np.zeros(grid.padded, dtype=dtype)
        self._mean = _VariantMean(len(grid.flips), self._add_window)
        self.add = self._mean.add

    def _add_window(self, corner: tuple[int, ...], mean: np.ndarray) -> None:
        region = self.grid.region(corner)
        self.logits[(slice(None), *region)] += mean * self.weights
        self.total[region] += self.weights

    def result(self) -> np.ndarray:
        self.logits /= self.total
        return self.logits


def merge_on_best_device(
    slide: Callable[["torch.device"], Any],
    device: "torch.device",
    num_classes: int,
    grid: WindowGrid,
    dtype: "torch.dtype",
) -> Any:
    """slide(results device): the results on `device` when they fit there, else on the CPU, with a CPU retry
    when the GPU runs out of memory (placement.py)."""
    from autoseg.inference.placement import run_with_cpu_fallback

    return run_with_cpu_fallback(slide, device, (num_classes + 1) * math.prod(grid.padded) * dtype.itemsize)
