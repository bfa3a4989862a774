"""Where the sliding windows go (the splitter half of the sliding window; window_merger.py is the other half).

Pure numpy, no torch: the ONNX backend (inference/backends/) slides the same windows without PyTorch installed.
A WindowGrid says, for a preprocessed volume (C, Z, Y, X) and a patch: the window (a 2D network's is (1, Y, X),
so one code path serves 2D and 3D), the padded shape (a volume smaller than a window is zero-padded up to it),
every window's first voxel, the mirror variants (test-time augmentation), and how many network inputs (window x
variant) go through the network in one forward pass. run_passes drives any backend over it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from scipy import ndimage

from autoseg.errors import AutosegError

MAX_BATCH_VOXELS = 1 << 20  # network inputs per forward pass, in voxels (windows x mirror variants)
Job = tuple[tuple[int, ...], tuple[int, ...]]  # (window corner, mirrored axes)


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
def gaussian_weight_array(patch: tuple[int, ...], sigma_scale: float = 0.125) -> np.ndarray:
    """Importance of each voxel of a window: windows overlap, and their centres predict better than borders.
    Cached and shared: callers must not write into it."""
    impulse = np.zeros(patch, dtype=np.float32)
    impulse[tuple(p // 2 for p in patch)] = 1
    weights = ndimage.gaussian_filter(impulse, [p * sigma_scale for p in patch], mode="constant")
    weights /= weights.max()
    weights = np.maximum(weights, weights[weights > 0].min())
    weights.flags.writeable = False
    return weights


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


def network_window(patch_size: Sequence[int], spatial_dims: int) -> list[int]:
    """The window in the volume's (Z, Y, X) axes: a 2D network sees one slice (1, Y, X)."""
    return [1, *patch_size] if spatial_dims == 2 else list(patch_size)


@dataclass(frozen=True)
class WindowGrid:
    """Where every window of one volume goes, and which go through the network together."""

    shape: tuple[int, ...]  # the volume's spatial shape (Z, Y, X)
    window: tuple[int, ...]  # (Z, Y, X) of one window
    corners: tuple[tuple[int, ...], ...]
    flips: tuple[tuple[int, ...], ...]  # mirror variants, in the network's spatial axes
    per_pass: int  # network inputs (window x variant) per forward pass
    offset: int  # a network axis a is axis a + 2 + offset of a (N, C, Z, Y, X) batch

    @classmethod
    def of(
        cls,
        shape: Sequence[int],
        patch_size: Sequence[int],
        spatial_dims: int,
        step: float,
        *,
        mirror_axes: Sequence[int] = (),
        batch_size: int = 1,
        max_batch_voxels: int = MAX_BATCH_VOXELS,
    ) -> "WindowGrid":
        window = network_window(patch_size, spatial_dims)
        padded = [max(s, w) for s, w in zip(shape, window)]
        corners = window_corners(padded, window, check_step(step))
        flips = mirror_variants(tuple(mirror_axes))
        per_pass = max(batch_size, inputs_per_pass(window, len(flips), len(corners), max_batch_voxels))
        return cls(tuple(shape), tuple(window), tuple(corners), tuple(flips), per_pass, 3 - spatial_dims)

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(max(s, w) for s, w in zip(self.shape, self.window))

    def region(self, corner: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(c, c + w) for c, w in zip(corner, self.window))

    def passes(self) -> Iterator[list[Job]]:
        """The (corner, flip) jobs, per_pass at a time, every variant of a window next to each other."""
        jobs = [(corner, flip) for corner in self.corners for flip in self.flips]
        for i in range(0, len(jobs), self.per_pass):
            yield jobs[i : i + self.per_pass]

    def mirror_dims(self, flip: tuple[int, ...]) -> list[int]:
        """The batch axes (N, C, Z, Y, X) a flip of the network's spatial axes mirrors."""
        return [a + 2 + self.offset for a in flip]


def padded_source(image, grid: WindowGrid):
    """The image itself when no window sticks out of it, else a zero-padded float32 copy (only for images smaller
    than a window, which are small: cached images may be read-only memory maps and are never copied whole)."""
    if grid.padded == grid.shape:
        return image
    source = np.zeros((image.shape[0], *grid.padded), dtype=np.float32)
    source[(slice(None), *[slice(0, s) for s in grid.shape])] = np.asarray(image, dtype=np.float32)
    return source


def read_window(source, grid: WindowGrid, corner: tuple[int, ...]) -> np.ndarray:
    """One window's voxels (1, C, *window) as a new float32 array, cut from the (padded) image."""
    return np.array(source[(slice(None), *grid.region(corner))], dtype=np.float32)[None]


def run_passes(
    grid: WindowGrid,
    read: Callable[[tuple[int, ...]], Any],
    join: Callable[[list], Any],
    forward: Callable[[Any], Any],
    unflip: Callable[[Any, tuple[int, ...]], Any],
    add: Callable[[tuple[int, ...], tuple[int, ...], Any], None],
) -> None:
    """Drive a backend over the grid: per pass, read each window once, `join` its mirror variants into one batch
    (read and flip are the backend's), `forward` it, and hand each output, mirrored back by `unflip`, to `add`
    (the merger's)."""
    for batch in grid.passes():
        tiles = {corner: read(corner) for corner in dict.fromkeys(c for c, _ in batch)}
        outputs = forward(join([unflip(tiles[corner], flip) for corner, flip in batch]))
        for (corner, flip), out in zip(batch, outputs):
            add(corner, flip, unflip(out[None], flip)[0])
