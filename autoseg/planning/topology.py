"""Network topology from spacing and patch: how many stages, which axes pool, which kernels.

Rules (nnU-Net's, restated):
- An axis is pooled at a stage only while its feature map stays at least `min_edge` voxels after pooling, and
  only when its current spacing is within `pool_ratio` of the finest pooled axis: a coarse axis waits until the
  fine axes have been downsampled to a comparable physical resolution.
- Kernels are 3 on axes whose current spacing is within `pool_ratio` of the finest axis, 1 on much coarser ones
  (a 3-voxel kernel across thick slices mixes unrelated anatomy); once 3, an axis stays 3.
- The patch must be divisible by the total stride per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Topology:
    strides: list[list[int]]
    kernel_sizes: list[list[int]]

    @property
    def num_stages(self) -> int:
        return len(self.strides)

    @property
    def total_stride(self) -> list[int]:
        return np.prod(np.array(self.strides), axis=0).astype(int).tolist()

    def poolings_per_axis(self) -> list[int]:
        return [int(np.log2(s)) for s in self.total_stride]


def plan_topology(
    spacing: list[float], patch_size: list[int], min_edge: int = 4, pool_ratio: float = 2.0, max_stages: int = 7
) -> Topology:
    spacing = np.asarray(spacing, dtype=float)
    size = np.asarray(patch_size, dtype=float)
    current = spacing.copy()
    kernel_three = current <= pool_ratio * current.min()
    strides = [[1] * len(size)]
    kernels = [[3 if k else 1 for k in kernel_three]]
    while len(strides) < max_stages:
        can_halve = size >= 2 * min_edge
        if not can_halve.any():
            break
        finest = current[can_halve].min()
        pool = can_halve & (current <= pool_ratio * finest)
        if not pool.any():
            break
        stride = np.where(pool, 2, 1)
        size = size / stride
        current = current * stride
        kernel_three |= current <= pool_ratio * current.min()
        strides.append(stride.astype(int).tolist())
        kernels.append([3 if k else 1 for k in kernel_three])
    return Topology(strides=strides, kernel_sizes=kernels)


def fit_patch_to_topology(patch_size: list[int], topology: Topology) -> list[int]:
    """Round each axis up to a multiple of its total stride (the network needs whole feature maps)."""
    total = topology.total_stride
    return [int(np.ceil(p / t) * t) for p, t in zip(patch_size, total)]


def topology_for_patch(
    spacing: list[float], patch_size: list[int], min_edge: int = 4, max_stages: int = 7
) -> tuple[list[int], Topology]:
    """Topology for a patch, and the patch rounded to fit it (re-planned if rounding changed the topology).

    A patch too small to pool even once (images smaller than the smallest network) grows to the smallest patch
    that pools once: a 2-stage network; training and inference pad the images to it."""
    patch_size = smallest_poolable_patch(spacing, patch_size, min_edge)
    topology = plan_topology(spacing, patch_size, min_edge, max_stages=max_stages)
    fitted = fit_patch_to_topology(patch_size, topology)
    again = plan_topology(spacing, fitted, min_edge, max_stages=max_stages)
    if again.strides != topology.strides:
        fitted = fit_patch_to_topology(fitted, again)
        topology = again
    return fitted, topology


def feature_widths(num_stages: int, base: int, cap: int) -> list[int]:
    return [int(min(base * 2**i, cap)) for i in range(num_stages)]


def smallest_poolable_patch(
    spacing: list[float], patch_size: list[int], min_edge: int = 4, pool_ratio: float = 2.0
) -> list[int]:
    """`patch_size`, or, when no axis is long enough to pool once (2 * min_edge voxels), the patch with its finest
    axes (those plan_topology would pool first) raised to 2 * min_edge."""
    if any(p >= 2 * min_edge for p in patch_size):
        return list(patch_size)
    spacing = np.asarray(spacing, dtype=float)
    finest = spacing <= pool_ratio * spacing.min()
    return [max(int(p), 2 * min_edge) if f else int(p) for p, f in zip(patch_size, finest)]
