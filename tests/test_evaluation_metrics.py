"""Metrics checked against values worked out by hand, including anisotropic spacing, empty masks and 2D."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from autoseg.evaluation.metrics import METRIC_NAMES, binary_metrics, evaluate_case
from autoseg.evaluation.surfaces import surface, surface_distances


def test_overlap_metrics_by_hand():
    ref = np.zeros((4, 4), bool)
    ref[0:2, 0:2] = True  # 4 voxels
    pred = np.zeros((4, 4), bool)
    pred[0:2, 0:3] = True  # 6 voxels, 4 of them on the reference
    m = binary_metrics(pred, ref, spacing=(1.0, 1.0))
    assert m["Dice"] == pytest.approx(2 * 4 / (6 + 4))
    assert m["IoU"] == pytest.approx(4 / 6)
    assert m["VOE"] == pytest.approx(1 - 4 / 6)
    assert m["precision"] == pytest.approx(4 / 6)
    assert m["recall"] == pytest.approx(1.0)
    assert m["RVD"] == pytest.approx((6 - 4) / 4)
    assert (m["TP"], m["FP"], m["FN"]) == (4, 2, 0)
    assert not m["reference_empty"] and not m["prediction_empty"]


def test_identical_masks_are_perfect():
    ref = np.zeros((5, 6, 7), bool)
    ref[1:4, 2:5, 1:6] = True
    m = binary_metrics(ref, ref.copy(), spacing=(3.0, 1.0, 0.5))
    assert (m["Dice"], m["IoU"], m["HD95"], m["ASSD"], m["NSD"], m["RVD"]) == (1.0, 1.0, 0.0, 0.0, 1.0, 0.0)


def _plane(shape, axis, index):
    mask = np.zeros(shape, bool)
    mask[(slice(None),) * axis + (index,)] = True
    return mask


@pytest.mark.parametrize("axis, expected_mm", [(0, 3.0), (1, 1.0), (2, 1.0)])
def test_parallel_planes_one_voxel_apart_with_anisotropic_spacing(axis, expected_mm):
    # spacing (3, 1, 1): one voxel along z is 3 mm, along y or x 1 mm.
    shape, spacing = (6, 5, 5), (3.0, 1.0, 1.0)
    ref, pred = _plane(shape, axis, 2), _plane(shape, axis, 3)
    m = binary_metrics(pred, ref, spacing)
    assert m["Dice"] == 0.0
    assert m["HD95"] == pytest.approx(expected_mm)
    assert m["ASSD"] == pytest.approx(expected_mm)


def test_parallel_planes_two_voxels_apart_along_z():
    ref, pred = _plane((6, 4, 4), 0, 1), _plane((6, 4, 4), 0, 3)
    m = binary_metrics(pred, ref, (3.0, 1.0, 1.0))
    assert m["HD95"] == pytest.approx(6.0) and m["ASSD"] == pytest.approx(6.0)


@pytest.mark.parametrize("tolerance, expected_nsd", [(2.9, 0.0), (3.0, 1.0), (5.0, 1.0)])
def test_nsd_below_and_above_the_distance(tolerance, expected_nsd):
    ref, pred = _plane((6, 5, 5), 0, 2), _plane((6, 5, 5), 0, 3)  # 3 mm apart
    assert binary_metrics(pred, ref, (3.0, 1.0, 1.0), tolerance_mm=tolerance)["NSD"] == expected_nsd


def test_asymmetric_lines_hd95_assd_nsd_by_hand():
    # Spacing (2, 1): rows are 2 mm apart, columns 1 mm. Reference: row 0, columns 0-3. Prediction: row 1,
    # columns 0-1. Thin lines are their own surfaces.
    ref = np.zeros((5, 6), bool)
    ref[0, 0:4] = True
    pred = np.zeros((5, 6), bool)
    pred[1, 0:2] = True
    pred_to_ref = [2.0, 2.0]
    ref_to_pred = [2.0, 2.0, math.sqrt(2**2 + 1**2), math.sqrt(2**2 + 2**2)]
    m = binary_metrics(pred, ref, (2.0, 1.0), tolerance_mm=2.0)
    assert m["HD95"] == pytest.approx(max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95)))
    assert m["ASSD"] == pytest.approx(sum(pred_to_ref + ref_to_pred) / 6)
    assert m["NSD"] == pytest.approx(4 / 6)  # both prediction voxels and two reference voxels within 2 mm


def test_surface_of_a_filled_square_is_its_ring():
    square = np.zeros((8, 8), bool)
    square[2:6, 2:6] = True
    assert np.count_nonzero(surface(square)) == 12


def test_cropped_distances_equal_brute_force_on_random_blobs():
    rng = np.random.default_rng(0)
    spacing = (2.5, 1.0, 0.7)
    for _ in range(3):
        pred = rng.random((9, 12, 11)) > 0.85
        ref = rng.random((9, 12, 11)) > 0.85
        pred[0, 0, 0] = ref[8, 11, 10] = True  # touch the border so the crop reaches it
        got_pred_to_ref, got_ref_to_pred = surface_distances(pred, ref, spacing)
        pred_points = np.argwhere(surface(pred)) * spacing
        ref_points = np.argwhere(surface(ref)) * spacing
        pairwise = cdist(pred_points, ref_points)
        np.testing.assert_allclose(got_pred_to_ref, pairwise.min(axis=1))
        np.testing.assert_allclose(got_ref_to_pred, pairwise.min(axis=0))


def test_both_empty_is_a_perfect_score_and_flagged():
    empty = np.zeros((4, 6, 8), bool)
    m = binary_metrics(empty, empty, (3.0, 1.0, 1.0))
    expected = {
        "Dice": 1.0,
        "IoU": 1.0,
        "HD95": 0.0,
        "ASSD": 0.0,
        "NSD": 1.0,
        "VOE": 0.0,
        "RVD": 0.0,
        "precision": 1.0,
        "recall": 1.0,
    }
    assert {k: m[k] for k in METRIC_NAMES} == expected
    assert m["reference_empty"] and m["prediction_empty"]


def test_empty_prediction_scores_worst_with_image_diagonal_distances():
    ref = np.zeros((4, 6, 8), bool)
    ref[1, 2, 3] = True
    m = binary_metrics(np.zeros_like(ref), ref, (3.0, 1.0, 1.0))
    diagonal = math.sqrt((4 * 3.0) ** 2 + 6**2 + 8**2)
    assert m["HD95"] == pytest.approx(diagonal) and m["ASSD"] == pytest.approx(diagonal)
    assert (m["Dice"], m["IoU"], m["VOE"], m["NSD"], m["precision"], m["recall"], m["RVD"]) == (
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        -1.0,
    )
    assert m["prediction_empty"] and not m["reference_empty"]


def test_empty_reference_scores_worst_and_rvd_counts_false_positive_voxels():
    pred = np.zeros((4, 6, 8), bool)
    pred[0, 0:5, 0] = True
    m = binary_metrics(pred, np.zeros_like(pred), (3.0, 1.0, 1.0))
    assert (m["Dice"], m["precision"], m["recall"], m["NSD"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["RVD"] == 5.0
    assert m["reference_empty"] and not m["prediction_empty"]


def test_2d_as_one_slice_ignores_the_z_axis():
    ref = np.zeros((1, 10, 10), int)
    ref[0, 2:6, 2:6] = 1
    pred = np.roll(ref, 1, axis=2)
    flat = binary_metrics(pred[0] == 1, ref[0] == 1, (0.5, 0.5))
    slice_3d = binary_metrics(pred == 1, ref == 1, (999.0, 0.5, 0.5))
    assert flat == slice_3d
    # Shifting a square by one column moves the surface by at most 0.5 mm; z (999 mm) plays no part.
    assert slice_3d["HD95"] == pytest.approx(0.5)
    empty = binary_metrics(np.zeros_like(pred), ref, (999.0, 3.0, 4.0))
    assert empty["HD95"] == pytest.approx(math.hypot(10 * 3.0, 10 * 4.0))


def test_evaluate_case_scores_each_label():
    ref = np.zeros((3, 4, 4), np.int16)
    ref[1, 0:2, 0:2] = 1
    ref[1, 2:4, 2:4] = 2
    pred = ref.copy()
    pred[1, 0, 0] = 0
    result = evaluate_case(pred, ref, [1, 2], spacing=(2.0, 1.0, 1.0))
    assert set(result) == {1, 2}
    assert result[1]["Dice"] == pytest.approx(2 * 3 / (3 + 4))
    assert result[2]["Dice"] == 1.0


def test_shape_mismatch_and_wrong_spacing_length_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        evaluate_case(np.zeros((2, 3), int), np.zeros((3, 2), int), [1], (1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        binary_metrics(np.zeros((2, 3), bool), np.zeros((2, 3), bool), (1.0, 1.0, 1.0))
