import json

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.data.dataset import load_dataset, read_case
from autoseg.data.image_io import read_label
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.data.synthetic_case import synthetic_case


def test_same_seed_same_case_other_seed_other_case():
    first = synthetic_case(np.random.default_rng(5), (8, 24, 24), (2.0, 1.0, 1.0))
    again = synthetic_case(np.random.default_rng(5), (8, 24, 24), (2.0, 1.0, 1.0))
    other = synthetic_case(np.random.default_rng(6), (8, 24, 24), (2.0, 1.0, 1.0))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("shape, spacing", [((24, 64, 64), (3.0, 0.8, 0.8)), ((64, 64), (0.8, 0.8))])
def test_every_class_present_and_zero_outside_the_body(shape, spacing):
    rng = np.random.default_rng(0)
    for _ in range(5):
        image, label = synthetic_case(rng, shape, spacing, num_classes=4, num_channels=2)
        assert image.shape == (2, *shape) and image.dtype == np.float32 and label.dtype == np.uint8
        assert set(np.unique(label)) == {0, 1, 2, 3}
        body = image[0] > 0
        assert np.array_equal(body, image[1] > 0)
        assert 0.2 < body.mean() < 0.8  # cropping to nonzero removes something
        assert not body[..., 0].any() and not body[..., -1].any()
        assert body[label > 0].all()  # classes lie inside the body


def test_classes_have_distinct_intensities_and_channels_differ():
    image, label = synthetic_case(np.random.default_rng(1), (16, 48, 48), (2.0, 1.0, 1.0), num_channels=2)
    means = [[float(image[c][(label == k) & (image[c] > 0)].mean()) for k in range(3)] for c in range(2)]
    lesion, tissue, organ = means[0][2], means[0][0], means[0][1]
    assert lesion < 0.8 * tissue and organ > 1.3 * tissue
    assert means[1][1] < means[1][0] < means[1][2]  # channel 1 inverts the contrast


def test_nnunet_dataset_files_and_json(tmp_path):
    root = make_synthetic_dataset(
        tmp_path / "ds", num_cases=2, shape=(6, 16, 16), spacing=(2.0, 1.0, 1.0), num_channels=2, num_test=1, seed=4
    )
    names = sorted(p.name for p in (root / "imagesTr").iterdir())
    assert names == ["case_000_0000.nii.gz", "case_000_0001.nii.gz", "case_001_0000.nii.gz", "case_001_0001.nii.gz"]
    assert sorted(p.name for p in (root / "imagesTs").iterdir()) == ["case_002_0000.nii.gz", "case_002_0001.nii.gz"]
    data = json.loads((root / "dataset.json").read_text())
    assert data["numTraining"] == 2 and data["file_ending"] == ".nii.gz" and data["autoseg_synthetic"]["seed"] == 4
    label = sitk.ReadImage(str(root / "labelsTr" / "case_000.nii.gz"))
    assert label.GetSpacing() == (1.0, 1.0, 2.0) and label.GetPixelID() == sitk.sitkUInt8


def test_msd_dataset_has_4d_images_and_training_list(tmp_path):
    root = make_synthetic_dataset(tmp_path / "msd", num_cases=2, shape=(6, 16, 16), num_channels=3, layout="msd")
    data = json.loads((root / "dataset.json").read_text())
    assert data["modality"] == {"0": "T1", "1": "T2", "2": "FLAIR"} and data["labels"]["1"] == "organ"
    assert data["training"][1] == {"image": "./imagesTr/case_001.nii.gz", "label": "./labelsTr/case_001.nii.gz"}
    assert sitk.ReadImage(str(root / "imagesTr" / "case_001.nii.gz")).GetSize() == (16, 16, 6, 3)


def test_2d_png_dataset_is_8_bit(tmp_path):
    root = make_synthetic_dataset(tmp_path / "png", num_cases=2, shape=(32, 32), file_ending=".png")
    image = sitk.ReadImage(str(root / "imagesTr" / "case_000_0000.png"))
    assert image.GetDimension() == 2 and image.GetPixelID() == sitk.sitkUInt8


def test_random_geometry_varies_cases_and_keeps_labels_on_the_image_grid(tmp_path):
    root = make_synthetic_dataset(
        tmp_path / "ds", num_cases=3, shape=(8, 20, 20), random_geometry=True, file_ending=".mha"
    )
    info = load_dataset(root)
    geometries = [read_case(case, info)[1] for case in info.training]
    assert len({g.shape for g in geometries}) > 1 and len({g.origin_itk for g in geometries}) == 3
    for case, geometry in zip(info.training, geometries):
        assert read_label(case.label_file)[1] == geometry
        rotation = np.array(geometry.direction_itk).reshape(3, 3)
        assert np.allclose(rotation @ rotation.T, np.eye(3)) and np.isclose(np.linalg.det(rotation), 1.0)


def test_arguments_that_cannot_work_are_refused(tmp_path):
    with pytest.raises(ValueError, match="MSD"):
        make_synthetic_dataset(tmp_path / "a", layout="msd", file_ending=".nrrd")
    with pytest.raises(ValueError, match="2D"):
        make_synthetic_dataset(tmp_path / "b", file_ending=".png")
