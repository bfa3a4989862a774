"""The faster, memory-bounded sliding window (issue 18) gives the numbers the old one gave.

tests/legacy_sliding_window.py is the implementation before the change. Small random networks, 2D and 3D, with
and without mirrors, images smaller and larger than a window; float32 results must agree to float32 rounding,
float16 accumulators to float16's (with the
Gaussian's tiny corner weights floored, see FLOAT16_MIN_WEIGHT).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoseg.inference.sliding_window import inputs_per_pass, sliding_window_logits, window_corners
from tests.legacy_sliding_window import sliding_window_logits as legacy_logits


def _network(spatial_dims: int, channels: int = 2, classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d if spatial_dims == 3 else torch.nn.Conv2d
    norm = torch.nn.InstanceNorm3d if spatial_dims == 3 else torch.nn.InstanceNorm2d
    return torch.nn.Sequential(
        conv(channels, 4, 3, padding=1), norm(4, affine=True), torch.nn.LeakyReLU(), conv(4, classes, 3, padding=1)
    ).eval()


CASES = [  # spatial_dims, image spatial shape (Z, Y, X), patch, mirror axes
    (3, (9, 14, 11), [4, 6, 8], ()),
    (3, (9, 14, 11), [4, 6, 8], (0, 1, 2)),
    (3, (3, 5, 20), [4, 6, 8], (1, 2)),  # smaller than the window in two axes: padding
    (2, (3, 17, 13), [8, 6], ()),
    (2, (3, 17, 13), [8, 6], (0, 1)),
]


@pytest.mark.parametrize("spatial_dims,shape,patch,axes", CASES)
@pytest.mark.parametrize("max_batch_voxels", [1, 10**6])  # one input per pass, or all windows and variants
def test_new_sliding_window_equals_the_old_one(spatial_dims, shape, patch, axes, max_batch_voxels):
    network = _network(spatial_dims)
    image = np.random.default_rng(1).normal(size=(2, *shape)).astype(np.float32)
    old = legacy_logits(network, image, patch, 3, spatial_dims, 0.5, axes, batch_size=2)
    new = sliding_window_logits(
        network,
        image,
        patch,
        3,
        spatial_dims,
        step=0.5,
        mirror_axes=axes,
        batch_size=1,
        max_batch_voxels=max_batch_voxels,
    )
    assert new.dtype == torch.float32 and new.shape == old.shape == (3, *shape)
    torch.testing.assert_close(new, old, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "spatial_dims,shape,patch,axes", [(3, (20, 40, 44), [12, 16, 16], (0, 1, 2)), (2, (2, 60, 50), [24, 20], (0, 1))]
)
def test_float16_accumulators_agree_to_float16_rounding(spatial_dims, shape, patch, axes):
    network = _network(spatial_dims)
    image = np.random.default_rng(2).normal(size=(2, *shape)).astype(np.float32)
    old = legacy_logits(network, image, patch, 3, spatial_dims, 0.5, axes)
    new = sliding_window_logits(network, image, patch, 3, spatial_dims, step=0.5, mirror_axes=axes, dtype=torch.float16)
    assert new.dtype == torch.float16 and torch.isfinite(new).all()
    difference = (new.float() - old).abs()
    # A random network's logits change fast from voxel to voxel, so the floored corner weights show at a few
    # voxels at the image border (max ~0.2 here); elsewhere it is float16 rounding.
    assert difference.mean() < 5e-3 and difference.quantile(0.95) < 1e-2
    assert (new.float().argmax(0) == old.argmax(0)).float().mean() > 0.995


def test_a_read_only_image_is_not_copied_or_written():
    image = np.random.default_rng(3).normal(size=(2, 9, 14, 11)).astype(np.float32)
    image.setflags(write=False)  # as a memory-mapped cache file
    before = image.copy()
    sliding_window_logits(_network(3), image, [4, 6, 8], 3, 3, step=0.5, mirror_axes=(0,))
    np.testing.assert_array_equal(image, before)


def test_windows_and_mirror_variants_share_forward_passes():
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return torch.zeros((x.shape[0], 2, *x.shape[2:]))

    image = np.zeros((1, 36, 51, 35), np.float32)  # a Hippocampus case: one window of 40x56x40
    sliding_window_logits(Counting(), image, [40, 56, 40], 2, 3, step=0.5, mirror_axes=(0, 1, 2), batch_size=1)
    assert calls == [8]  # the 8 mirror variants in one pass
    assert inputs_per_pass([40, 56, 40], 8, 1, 10**5) == 1
    assert len(window_corners([155, 240, 240], [48, 64, 80], 0.5)) == 6 * 7 * 5  # a BraTS case at step 0.5
