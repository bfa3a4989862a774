"""Constant-background detection: a z-scored scan (background -3.16, not 0) is cropped and mask-normalised as
its zero-background original is; zero, noisy and CT backgrounds behave as before."""

import dataclasses
import json

import numpy as np
import pytest

from autoseg.data.dataset import load_dataset
from autoseg.data.nonzero import channel_backgrounds, constant_background, nonzero_bbox, nonzero_mask
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.data.synthetic_case import synthetic_case
from autoseg.plan_command import plan
from autoseg.planning.fingerprint import compute_fingerprint
from autoseg.planning.normalization import choose_normalization
from autoseg.preprocessing.case import preprocess_arrays
from autoseg.schema.plans import load_plans
from tests.test_preprocessing import make_case, make_plans


def _z_scored(image):
    """What a distributor's whole-image z-score does: a zero background becomes one negative constant."""
    return ((image - image.mean()) / image.std()).astype(np.float32)


def test_detects_a_negative_constant_and_not_zero_noise_or_a_bright_border():
    image, _ = synthetic_case(np.random.default_rng(0), (12, 40, 40), (2.0, 1.0, 1.0))
    shifted = _z_scored(image)[0]
    value = constant_background(shifted)
    assert value is not None and value < 0 and np.isclose(value, -image.mean() / image.std(), atol=1e-5)
    assert channel_backgrounds(image, [True]) == [None]  # zero: the old rule applies
    noisy = shifted + np.random.default_rng(1).normal(0, 0.01, shifted.shape).astype(np.float32)
    assert constant_background(noisy) is None
    bright = np.pad(np.random.default_rng(2).normal(size=(10, 30, 30)), 2, constant_values=9).astype(np.float32)
    assert constant_background(bright) is None  # a constant above the minimum
    assert np.array_equal(nonzero_mask(shifted[None], [value]), nonzero_mask(image))
    assert nonzero_bbox(shifted[None], background=[value]) == nonzero_bbox(image)


def test_constant_background_preprocesses_like_its_zero_background_original():
    image, label, geometry = make_case((14, 40, 36), (2.0, 1.0, 1.0), seed=3)
    plans = make_plans([2.0, 1.5, 1.5], [0, 1, 2])
    config = plans.configurations["cfg"]
    zero_data, zero_seg, zero_props = preprocess_arrays(image, geometry, plans, config, label)
    config.normalization = [dataclasses.replace(config.normalization[0], constant_background=True)]
    data, seg, props = preprocess_arrays(_z_scored(image), geometry, plans, config, label)
    assert props["bbox"] == zero_props["bbox"] and props["bbox"] != [[0, 14], [0, 40], [0, 36]]
    assert props["background_values"][0] < 0 and zero_props["background_values"] == [None]
    assert np.array_equal(seg, zero_seg)
    assert np.allclose(data, zero_data, atol=1e-3)  # z-score inside the mask: same values
    assert abs(data[0, 0, 0, 0]) < 1e-6  # background set to 0 after normalising


@pytest.mark.slow
def test_fingerprint_and_plan_record_it_and_zero_background_data_plans_as_before(tmp_path):
    zero = make_synthetic_dataset(tmp_path / "Zero", num_cases=3, shape=(12, 32, 32), num_classes=2)
    shifted = make_synthetic_dataset(tmp_path / "Shifted", num_cases=3, shape=(12, 32, 32), num_classes=2)
    import SimpleITK as sitk

    for path in (shifted / "imagesTr").glob("*.nii.gz"):
        written = sitk.ReadImage(str(path))
        array = _z_scored(sitk.GetArrayFromImage(written)[None])[0]
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(written)
        sitk.WriteImage(out, str(path))
    zero_fp = compute_fingerprint(load_dataset(zero), progress=False)
    shifted_fp = compute_fingerprint(load_dataset(shifted), progress=False)
    assert zero_fp["background"][0]["constant_cases"] == 0 and not zero_fp["background"][0]["used"]
    assert all(c["background"] == [None] for c in zero_fp["cases"])
    assert shifted_fp["background"][0]["constant_cases"] == 3 and shifted_fp["background"][0]["used"]
    assert shifted_fp["median_cropped_shape"] == zero_fp["median_cropped_shape"]
    zero_norm, _ = choose_normalization(zero_fp)
    assert not zero_norm[0].constant_background
    plan(shifted, tmp_path / "W", cpu_gflops=40, time_budget="2m", progress=False, workers=1, preprocess=False)
    norm = load_plans(tmp_path / "W").configurations["3d_fullres"].normalization[0]
    assert norm.constant_background and norm.use_mask
    log = (tmp_path / "W" / "plan.log").read_text()
    assert "the background is a constant, not 0" in log and "3 of 3 case(s)" in log
    stored = json.loads((tmp_path / "W" / "fingerprint.json").read_text())
    assert stored["background"][0]["min"] < 0
