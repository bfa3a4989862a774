import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.data.geometry import Geometry, default_geometry
from autoseg.data.image_io import read_image, read_label, write_image, write_label
from autoseg.errors import AutosegError


def random_geometry(seed: int, shape=(5, 6, 7)) -> Geometry:
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return Geometry(
        3,
        tuple(reversed(shape)),
        tuple(rng.uniform(0.3, 4.0, 3)),
        tuple(rng.uniform(-200, 200, 3)),
        tuple(rotation.ravel()),
    )


def random_labels(shape, high=4, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.uint8)


@pytest.mark.parametrize("ending", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_3d_label_round_trip_keeps_array_and_geometry(tmp_path, ending):
    labels, geometry = random_labels((5, 6, 7)), random_geometry(1)
    write_label(labels, geometry, tmp_path / f"first{ending}")
    read_back, read_geometry = read_label(tmp_path / f"first{ending}")
    assert read_back.dtype == np.uint8 and np.array_equal(read_back, labels)
    # NIfTI stores geometry as float32 and NRRD renormalises direction vectors: equal within the format's precision.
    assert geometry.mismatch(read_geometry, tolerance=1e-6) is None
    # Once read, writing back what we read reproduces the file's geometry exactly: read -> write -> read.
    write_label(read_back, read_geometry, tmp_path / f"second{ending}")
    again, again_geometry = read_label(tmp_path / f"second{ending}")
    assert np.array_equal(again, labels)
    assert again_geometry.mismatch(read_geometry, tolerance=1e-12) is None
    if ending in (".mha", ".mhd"):
        assert read_geometry == geometry


@pytest.mark.parametrize("ending", [".png", ".tif", ".nii.gz", ".bmp"])
def test_2d_label_round_trip_restores_a_2d_file(tmp_path, ending):
    labels = random_labels((1, 9, 11), high=3)
    geometry = default_geometry((9, 11))
    write_label(labels, geometry, tmp_path / f"mask{ending}")
    assert sitk.ReadImage(str(tmp_path / f"mask{ending}")).GetDimension() == 2
    read_back, read_geometry = read_label(tmp_path / f"mask{ending}")
    assert read_back.shape == (1, 9, 11) and np.array_equal(read_back, labels)
    assert read_geometry == geometry


def test_tif_keeps_2d_spacing(tmp_path):
    geometry = default_geometry((9, 11), (0.5, 0.25))
    write_label(random_labels((9, 11)), geometry, tmp_path / "mask.tif")
    _, read_geometry = read_label(tmp_path / "mask.tif")
    assert read_geometry.mismatch(geometry) is None


def test_labels_above_255_get_a_wider_type(tmp_path):
    labels = random_labels((4, 5, 6)).astype(np.int32) * 100
    write_label(labels, default_geometry((4, 5, 6)), tmp_path / "wide.nrrd")
    read_back, _ = read_label(tmp_path / "wide.nrrd")
    assert read_back.dtype == np.int16 and np.array_equal(read_back, labels)


def test_rgb_png_colour_components_become_channels(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (3, 1, 8, 10)).astype(np.float32)
    write_image(rgb, default_geometry((8, 10)), tmp_path / "photo.png")
    assert sitk.ReadImage(str(tmp_path / "photo.png")).GetNumberOfComponentsPerPixel() == 3
    image, geometry = read_image([tmp_path / "photo.png"])
    assert image.dtype == np.float32 and image.shape == (3, 1, 8, 10) and np.array_equal(image, rgb)
    assert geometry.ndim == 2


def test_grey_picture_saved_as_rgb_reads_as_one_channel_unless_three_are_expected(tmp_path):
    grey = np.random.default_rng(0).integers(0, 256, (1, 1, 8, 10)).astype(np.float32)
    write_image(np.repeat(grey, 3, axis=0), default_geometry((8, 10)), tmp_path / "grey.png")
    assert read_image(tmp_path / "grey.png")[0].shape == (1, 1, 8, 10)
    assert read_image(tmp_path / "grey.png", expected_channels=3)[0].shape == (3, 1, 8, 10)


def test_msd_4d_nifti_channels_are_the_4th_axis(tmp_path):
    image = np.random.default_rng(0).normal(size=(3, 5, 6, 7)).astype(np.float32)
    geometry = random_geometry(2)
    write_image(image, geometry, tmp_path / "brain.nii.gz")
    assert sitk.ReadImage(str(tmp_path / "brain.nii.gz")).GetDimension() == 4
    read_back, read_geometry = read_image(tmp_path / "brain.nii.gz")
    assert np.array_equal(read_back, image)
    assert read_geometry.ndim == 3 and read_geometry.mismatch(geometry) is None


def test_separate_channel_files_are_stacked_in_order(tmp_path):
    geometry = random_geometry(3)
    channels = np.random.default_rng(0).normal(size=(2, 5, 6, 7)).astype(np.float32)
    paths = [tmp_path / f"case_{c:04d}.nrrd" for c in range(2)]
    for c, path in enumerate(paths):
        write_image(channels[c : c + 1], geometry, path)
    image, _ = read_image(paths)
    assert np.array_equal(image, channels)


def test_channel_files_on_different_grids_are_refused(tmp_path):
    geometry = random_geometry(3)
    shifted = Geometry(3, geometry.size_itk, geometry.spacing_itk, (0.0, 0.0, 0.0), geometry.direction_itk)
    write_image(np.zeros((1, 5, 6, 7)), geometry, tmp_path / "c_0000.mha")
    write_image(np.zeros((1, 5, 6, 7)), shifted, tmp_path / "c_0001.mha")
    with pytest.raises(AutosegError, match=r"c_0001\.mha.*origin"):
        read_image([tmp_path / "c_0000.mha", tmp_path / "c_0001.mha"])


def test_float_stored_labels_with_whole_values_are_accepted(tmp_path):
    labels = random_labels((4, 5, 6)).astype(np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(tmp_path / "float.nii.gz"))
    read_back, _ = read_label(tmp_path / "float.nii.gz")
    assert read_back.dtype == np.uint8 and np.array_equal(read_back, labels)


def test_non_integer_labels_are_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.full((4, 5, 6), 0.5, np.float32)), str(tmp_path / "soft.nii.gz"))
    with pytest.raises(AutosegError, match=r"soft\.nii\.gz.*non-integer"):
        read_label(tmp_path / "soft.nii.gz")


def test_unreadable_and_missing_files_name_the_file(tmp_path):
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    with pytest.raises(AutosegError, match=r"broken\.nii\.gz.*cannot read"):
        read_image([tmp_path / "broken.nii.gz"])
    with pytest.raises(AutosegError, match=r"absent\.nrrd.*not found"):
        read_label(tmp_path / "absent.nrrd")


def test_write_is_atomic_and_leaves_no_staging_files(tmp_path):
    write_label(random_labels((4, 5, 6)), default_geometry((4, 5, 6)), tmp_path / "out" / "case.mhd")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["case.mhd", "case.zraw"]


def test_lossy_label_format_is_refused(tmp_path):
    with pytest.raises(AutosegError, match="JPEG"):
        write_label(random_labels((8, 8)), default_geometry((8, 8)), tmp_path / "mask.jpg")
