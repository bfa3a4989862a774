"""Preprocessing is exactly invertible in geometry.

preprocess_arrays (transpose, crop to nonzero, normalise, resample) followed by restore_probabilities /
restore_array gives back the original voxel grid, and writing with the case's Geometry reproduces the input
file's spacing, origin and direction. Covered: resampling up and down, anisotropic data (coarse axis resampled
separately), coarse axis not first (transposes), 2D configurations and 2D images, cropping with a body mask.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.data.geometry import Geometry
from autoseg.data.image_io import read_image, write_image, write_label
from autoseg.data.synthetic import _random_rotation
from autoseg.data.synthetic_case import synthetic_case
from autoseg.preprocessing.case import preprocess_arrays
from autoseg.preprocessing.undo import restore_array, restore_probabilities
from autoseg.schema.network import NetworkSpec
from autoseg.schema.plans import PLANS_VERSION, ChannelNormalization, Configuration, Plans, Resampling

LABELS = {"background": 0, "organ": 1, "lesion": 2}


def make_plans(target_spacing, transpose_forward, spatial_dims=3, anisotropic_axis=None) -> Plans:
    """The few plan fields preprocessing reads; `target_spacing` is in transposed order, like plans.json."""
    network = NetworkSpec(
        architecture="unet",
        spatial_dims=spatial_dims,
        in_channels=1,
        num_classes=len(LABELS),
        features=[4],
        kernel_sizes=[[3] * spatial_dims],
        strides=[[1] * spatial_dims],
    )
    config = Configuration(
        name="cfg",
        spatial_dims=spatial_dims,
        data_identifier="cfg",
        spacing=[float(s) for s in target_spacing],
        median_shape=[1, 1, 1],
        patch_size=[8] * spatial_dims,
        batch_size=1,
        normalization=[ChannelNormalization("zscore", use_mask=True)],
        network=network,
        resampling=Resampling(anisotropic_axis=anisotropic_axis, keep_native_axes=[0] if spatial_dims == 2 else []),
    )
    backward = [int(a) for a in np.argsort(transpose_forward)]
    return Plans(
        version=PLANS_VERSION,
        dataset_name="t",
        dataset_path="unused",
        layout="nnunet_v2",
        file_ending=".nii.gz",
        channel_names=["MRI"],
        labels=dict(LABELS),
        transpose_forward=list(transpose_forward),
        transpose_backward=backward,
        preset="default",
        device={},
        seed=0,
        configurations={"cfg": config},
    )


def make_case(shape, spacing, seed):
    """A synthetic scan (zero outside an elliptic body) with a rotated, shifted geometry; numpy order in."""
    rng = np.random.default_rng(seed)
    image, label = synthetic_case(rng, shape, spacing, num_classes=len(LABELS))
    ndim = len(shape)
    geometry = Geometry(
        ndim=ndim,
        size_itk=tuple(reversed(shape)),
        spacing_itk=tuple(reversed(spacing)),
        origin_itk=tuple(rng.uniform(-100, 100, ndim)),
        direction_itk=tuple(_random_rotation(rng, ndim).ravel()),
    )
    if ndim == 2:
        image, label = image[:, None], label[None]
    return image, label, geometry


# name: (raw shape, raw spacing (numpy order), transpose_forward, target spacing (transposed), 2D config,
#        anisotropic axis)
SCENARIOS = {
    "same_spacing": ((20, 48, 44), (1.0, 1.0, 1.0), [0, 1, 2], (1.0, 1.0, 1.0), False, None),
    "upsampled": ((19, 45, 41), (1.3, 1.1, 0.9), [0, 1, 2], (1.0, 0.8, 0.8), False, None),
    "downsampled": ((23, 51, 47), (0.9, 0.7, 0.75), [0, 1, 2], (1.2, 1.0, 1.0), False, None),
    "anisotropic_coarse_axis_last": ((49, 45, 13), (0.8, 0.9, 3.5), [2, 0, 1], (3.0, 1.0, 1.0), False, 0),
    "anisotropic_coarse_axis_middle": ((47, 11, 45), (0.9, 4.0, 0.8), [1, 0, 2], (4.0, 1.1, 0.7), False, 0),
    "2d_configuration_of_a_volume": ((11, 49, 43), (3.0, 0.8, 0.9), [0, 1, 2], (3.0, 1.0, 1.0), True, None),
    "2d_image": ((57, 61), (0.7, 0.6), [0, 1, 2], (999.0, 0.5, 0.5), True, None),
}
# Downsampling loses detail for good (Dice ~0.9 on the small lesion); upsampling loses almost nothing.
MIN_DICE = {"upsampled": 0.95}


def preprocess_and_restore(name):
    shape, spacing, forward, target, is_2d, anisotropic = SCENARIOS[name]
    image, label, geometry = make_case(shape, spacing, seed=len(name))
    plans = make_plans(target, forward, 2 if is_2d else 3, anisotropic)
    data, seg, properties = preprocess_arrays(image, geometry, plans, plans.configurations["cfg"], label)
    one_hot = np.stack([(seg == k).astype(np.float32) for k in LABELS.values()])
    probabilities = restore_probabilities(one_hot, properties, plans.transpose_backward)
    restored_label = restore_array(seg, properties, plans.transpose_backward).astype(np.uint8)
    return image, label, geometry, data, seg, properties, probabilities, restored_label


@pytest.mark.parametrize("name", SCENARIOS)
def test_restore_gives_the_original_shape_and_grid(name):
    image, label, geometry, data, seg, properties, probabilities, restored = preprocess_and_restore(name)
    assert data.shape[1:] == seg.shape == tuple(properties["shape_after_resample"])
    assert probabilities.shape == (len(LABELS), *image.shape[1:])
    assert restored.shape == label.shape == geometry.shape
    assert np.allclose(probabilities.sum(0), 1.0, atol=1e-5)
    # The case's geometry survives the JSON properties file bit for bit (prediction reads it from there).
    assert Geometry.from_dict(json.loads(json.dumps(properties["geometry"]))) == geometry


@pytest.mark.parametrize("name", SCENARIOS)
def test_labels_survive_resample_and_restore(name):
    _, label, _, _, _, properties, probabilities, restored = preprocess_and_restore(name)
    from_probabilities = probabilities.argmax(0)
    if properties["shape_after_resample"] == properties["shape_after_crop"]:
        assert np.array_equal(restored, label) and np.array_equal(from_probabilities, label)
        return
    for k in (1, 2):
        for result in (restored, from_probabilities):
            dice = 2 * np.sum((result == k) & (label == k)) / (np.sum(result == k) + np.sum(label == k))
            assert dice > MIN_DICE.get(name, 0.85), f"class {k}: Dice {dice:.3f} after resample -> restore"
    assert np.mean(from_probabilities != label) < 0.01


def test_cropping_keeps_the_body_and_restores_background_outside():
    image, label, _, data, _, properties, probabilities, _ = preprocess_and_restore("same_spacing")
    body = image[0] != 0
    assert not body.all(), "the synthetic body must leave background to crop"
    bbox = properties["bbox"]
    where = np.argwhere(body)
    assert [list(b) for b in zip(where.min(0).tolist(), (where.max(0) + 1).tolist())] == bbox
    assert data.shape[1:] == tuple(hi - lo for lo, hi in bbox) and data.size < image.size
    outside = np.ones(body.shape, bool)
    outside[tuple(slice(lo, hi) for lo, hi in bbox)] = False
    assert outside.any() and np.all(probabilities[0][outside] == 1.0) and np.all(label[outside] == 0)
    # Masked z-score: zero outside the body inside the crop, unit statistics inside it.
    inside = body[tuple(slice(lo, hi) for lo, hi in bbox)]
    assert np.all(data[0][~inside] == 0) and abs(float(data[0][inside].mean())) < 1e-3


def test_transpose_puts_the_coarse_axis_first_and_restores_it():
    image, _, _, data, _, properties, probabilities, _ = preprocess_and_restore("anisotropic_coarse_axis_last")
    assert properties["spacing_transposed"] == [3.5, 0.8, 0.9]
    assert properties["shape_transposed"] == [image.shape[3], image.shape[1], image.shape[2]]
    assert data.shape[1] == round(properties["shape_after_crop"][0] * 3.5 / 3.0)
    assert probabilities.shape[1:] == image.shape[1:]


@pytest.mark.parametrize("ending", [".mha", ".nrrd", ".nii.gz"])
@pytest.mark.parametrize("name", ["anisotropic_coarse_axis_last", "upsampled", "2d_image"])
def test_writing_with_the_case_geometry_reproduces_the_input_file(tmp_path, name, ending):
    image, _, geometry, *_ = preprocess_and_restore(name)
    source = write_image(image, geometry, tmp_path / f"input{ending}")
    image_read, geometry_read = read_image(source)
    shape, spacing, forward, target, is_2d, anisotropic = SCENARIOS[name]
    plans = make_plans(target, forward, 2 if is_2d else 3, anisotropic)
    _, seg, properties = preprocess_arrays(
        image_read, geometry_read, plans, plans.configurations["cfg"], label=(image_read[0] > 0).astype(np.uint8)
    )
    restored = restore_array(seg, properties, plans.transpose_backward).astype(np.uint8)
    written = write_label(restored, Geometry.from_dict(properties["geometry"]), tmp_path / f"output{ending}")
    assert_same_header(sitk.ReadImage(str(source)), sitk.ReadImage(str(written)), ending)


def assert_same_header(expected: sitk.Image, actual: sitk.Image, ending: str) -> None:
    """Size, spacing, origin and direction as the file stores them.

    MetaImage stores each in full double precision, so they must be identical. NRRD stores spacing x direction
    as one matrix (splitting it again may move the last bit); NIfTI stores the direction in float32.
    """
    assert actual.GetSize() == expected.GetSize()
    assert actual.GetOrigin() == expected.GetOrigin()
    tolerance = {".mha": 0.0, ".nrrd": 1e-14, ".nii.gz": 1e-6}[ending]
    spacing_tolerance = 1e-14 if ending == ".nrrd" else 0.0
    np.testing.assert_allclose(actual.GetSpacing(), expected.GetSpacing(), rtol=spacing_tolerance, atol=0)
    np.testing.assert_allclose(actual.GetDirection(), expected.GetDirection(), rtol=0, atol=tolerance)


def test_coarse_axis_is_resampled_without_interpolating_between_slices():
    from autoseg.preprocessing.resample import resample_array

    slices = np.broadcast_to(np.arange(7, dtype=np.float32)[:, None, None] * 10, (7, 12, 10))[None]
    separate = resample_array(slices, [9, 15, 13], order=3, anisotropic_axis=0, anisotropic_order=0)
    assert set(np.unique(separate)) <= set(np.arange(7) * 10.0)
    together = resample_array(slices, [9, 15, 13], order=3)
    assert not set(np.unique(together.round(3))) <= set(np.arange(7) * 10.0)


def test_ignore_label_above_127_is_stored_without_wrapping():
    # nnU-Net datasets often mark unlabelled voxels 255; int8 would turn them into -1 and break training.
    image, label, geometry = make_case((12, 20, 18), (1.0, 1.0, 1.0), seed=4)
    label[:, :3] = 255
    plans = make_plans((1.0, 1.0, 1.0), [0, 1, 2])
    plans.ignore_label = 255
    _, seg, _ = preprocess_arrays(image, geometry, plans, plans.configurations["cfg"], label)
    assert seg.dtype == np.int16 and seg.max() == 255 and seg.min() >= 0
    plans.ignore_label = None
    label[label == 255] = 0
    assert preprocess_arrays(image, geometry, plans, plans.configurations["cfg"], label)[1].dtype == np.int8
