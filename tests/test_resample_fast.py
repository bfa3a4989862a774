"""The matrix-per-axis resampling against the former skimage.resize implementation (tests/legacy_resample.py)."""

import numpy as np
import pytest
from scipy import ndimage

from autoseg.preprocessing.resample import resample_array, resample_labels
from tests import legacy_resample as legacy

SHAPES = [
    ((9, 41, 20), None),
    ((20, 17, 33), 0),
    ((26, 60, 54), 0),
    ((13, 15, 40), None),
    ((7, 15, 14), None),
    ((1, 45, 19), None),
]


def _image(rng, shape=(2, 13, 30, 27)):
    return ndimage.gaussian_filter(rng.normal(size=shape), 1.2).astype(np.float32)


def _labels(rng, shape=(13, 30, 27)):
    labels = np.zeros(shape, np.uint8)
    labels[2:10, 5:20, 4:15] = 1
    labels[4:8, 8:14, 6:12] = 2
    labels[6:12, 22:28, 18:25] = 3
    keep = ndimage.gaussian_filter(rng.normal(size=shape), 1) > -0.1  # ragged edges, holes, specks
    return np.where(keep, labels, 0).astype(np.uint8)


@pytest.mark.parametrize("new_shape, anisotropic_axis", SHAPES)
def test_image_resampling_matches_the_former_implementation(new_shape, anisotropic_axis):
    image = _image(np.random.default_rng(0))
    if new_shape[0] == 1:
        image = image[:, :1]
    for order in (3, 1):
        expected = legacy.resample_array(image, list(new_shape), order, anisotropic_axis, 0)
        got = resample_array(image, list(new_shape), order, anisotropic_axis, 0)
        assert got.dtype == np.float32 and got.shape == (2, *new_shape)
        assert np.abs(got - expected).max() < 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("new_shape, anisotropic_axis", SHAPES + [((6, 15, 13), None), ((26, 60, 54), None)])
def test_label_resampling_matches_the_former_implementation(new_shape, anisotropic_axis):
    """Halving (6, 15, 13) puts most new voxels exactly between two old ones: the ties must go the same way."""
    labels = _labels(np.random.default_rng(1))
    if new_shape[0] == 1:
        labels = labels[6:7]
    expected = legacy.resample_labels(labels, list(new_shape), 4, 1, anisotropic_axis)
    got = resample_labels(labels, list(new_shape), 4, 1, anisotropic_axis)
    assert got.dtype == labels.dtype and np.array_equal(got, expected)


def test_labels_whose_most_frequent_value_is_not_zero():
    labels = _labels(np.random.default_rng(2))
    labels = np.where(labels == 0, 5, labels).astype(np.int16)  # background 5, 0 absent, 3 classes below
    labels[0, 0, :4] = 0
    expected = legacy.resample_labels(labels, [17, 22, 35], 6, 1, None)
    got = resample_labels(labels, [17, 22, 35], 6, 1, None)
    assert np.array_equal(got, expected)


def test_nearest_neighbour_labels_and_one_class_labels():
    labels = _labels(np.random.default_rng(3))
    assert np.array_equal(
        resample_labels(labels, [20, 17, 33], 4, 0, None), legacy.resample_labels(labels, [20, 17, 33], 4, 0, None)
    )
    flat = np.full((5, 6, 7), 2, np.uint8)
    assert np.array_equal(resample_labels(flat, [9, 3, 8], 3), np.full((9, 3, 8), 2, np.uint8))
