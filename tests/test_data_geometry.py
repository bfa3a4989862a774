import json

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.data.geometry import SPACING_OF_2D_Z_AXIS, Geometry, default_geometry


def rotated_geometry() -> Geometry:
    rotation, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    return Geometry(3, (6, 5, 4), (0.7, 1.3, 2.9), (10.5, -3.25, 7.1234567890123), tuple(rotation.ravel()))


def test_shape_and_spacing_are_numpy_order_3d():
    geometry = rotated_geometry()
    assert geometry.shape == (4, 5, 6)
    assert geometry.spacing == (2.9, 1.3, 0.7)


def test_2d_geometry_gets_a_fake_z_axis_that_is_never_resampled():
    geometry = default_geometry((30, 40), (0.5, 0.25))
    assert geometry.ndim == 2
    assert geometry.shape == (1, 30, 40)
    assert geometry.spacing == (SPACING_OF_2D_Z_AXIS, 0.5, 0.25)


def test_dict_round_trip_is_exact_through_json():
    geometry = rotated_geometry()
    again = Geometry.from_dict(json.loads(json.dumps(geometry.to_dict())))
    assert again == geometry


def test_of_image_takes_the_spatial_part_of_a_4d_image():
    image = sitk.JoinSeries([sitk.Image(6, 5, 4, sitk.sitkFloat32)] * 2)
    image.SetSpacing((0.5, 0.6, 0.7, 1.0))
    geometry = Geometry.of_image(image)
    assert geometry.ndim == 3 and geometry.size_itk == (6, 5, 4) and geometry.spacing_itk == (0.5, 0.6, 0.7)
    assert geometry.direction_itk == tuple(np.eye(3).ravel())


def test_mismatch_tolerates_rounding_but_reports_real_differences():
    geometry = rotated_geometry()
    rounded = Geometry(
        3,
        geometry.size_itk,
        tuple(np.float32(geometry.spacing_itk).astype(float)),
        tuple(np.float32(geometry.origin_itk).astype(float)),
        tuple(np.float32(geometry.direction_itk).astype(float)),
    )
    assert geometry.mismatch(rounded) is None
    moved = Geometry(3, geometry.size_itk, geometry.spacing_itk, (10.5, -3.0, 7.1), geometry.direction_itk)
    assert "origin" in geometry.mismatch(moved)
    coarser = Geometry(3, geometry.size_itk, (0.7, 1.3, 3.0), geometry.origin_itk, geometry.direction_itk)
    assert "spacing" in geometry.mismatch(coarser)
    assert "shape" in geometry.mismatch(default_geometry((4, 5, 7)))
    assert "dimension" in geometry.mismatch(default_geometry((5, 6)))


def test_invalid_geometry_is_refused():
    with pytest.raises(ValueError):
        Geometry(3, (4, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
