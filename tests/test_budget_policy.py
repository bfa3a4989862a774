"""Issue 32's guard: a budget beyond the 15-minute reference never grows the patch past the structures' context
(measured from the fingerprint) and never plans fewer iterations than the reference plan."""

from __future__ import annotations

import numpy as np
import pytest

from autoseg.planning.budget_policy import CONTEXT_MARGIN, REFERENCE_BUDGET_S
from autoseg.planning.planner import plan_configurations
from autoseg.planning.presets import load_preset
from autoseg.planning.structure_extent import case_structure_extent, dataset_structure_extent
from tests.test_planning_rules import cpu, fingerprint


def _plan(fp, minutes):
    return plan_configurations(fp, load_preset("default"), cpu(minutes=minutes))["configurations"]


def test_structure_extent_is_the_large_regions_of_every_label_background_included():
    # A membrane-like grid: label 1 is one connected network, the 'cells' between its lines are background.
    label = np.zeros((1, 200, 200), dtype=np.uint8)
    label[:, ::40, :] = 1
    label[:, :, ::50] = 1
    extent = case_structure_extent(label, [1.0, 2.0, 0.5], ignore_label=None)
    # Cells are 39 x 49 voxels; the grid itself spans the image but is one component of many.
    assert extent == pytest.approx([1.0, 39 * 2.0, 49 * 0.5])
    speckle = np.zeros((1, 50, 50), dtype=np.uint8)
    speckle[0, 10, 10] = 1  # one stray voxel does not set the context; the background does
    assert case_structure_extent(speckle, [1.0, 1.0, 1.0], ignore_label=None) == [1.0, 50.0, 50.0]
    assert case_structure_extent(np.full((1, 8, 8), 3, np.uint8), [1.0] * 3, ignore_label=3) is None
    assert dataset_structure_extent(
        [{"structure_extent_mm": [1, 2, 3]}, {"structure_extent_mm": [3, 4, 5]}, {"structure_extent_mm": None}]
    ) == [2.0, 3.0, 4.0]


def _with_extent(fp, extent_mm):
    fp["structure_extent_mm"] = extent_mm
    return fp


FINGERPRINTS = {
    # name: (fingerprint, configuration)
    "isbi_like_small_cells": (
        lambda: _with_extent(fingerprint((1, 512, 512), (999.0, 1.0, 1.0), n=30, labels=2), [1.0, 60.0, 60.0]),
        "2d",
    ),
    "isbi_like_no_extent": (lambda: fingerprint((1, 512, 512), (999.0, 1.0, 1.0), n=30, labels=2), "2d"),
    "ct_like_large_organs": (
        lambda: _with_extent(fingerprint((128, 256, 256), (1.0, 0.8, 0.8)), [100.0, 160.0, 160.0]),
        "3d_fullres",
    ),
    "hippocampus_like": (
        lambda: _with_extent(fingerprint((36, 51, 35), (1.0, 1.0, 1.0)), [36.0, 51.0, 35.0]),
        "3d_fullres",
    ),
}


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
@pytest.mark.parametrize("minutes", [30, 60, 240, 720])
def test_a_longer_budget_never_grows_the_patch_past_context_nor_plans_fewer_iterations(name, minutes):
    make, cfg = FINGERPRINTS[name]
    reference = _plan(make(), REFERENCE_BUDGET_S / 60)[cfg]
    longer = _plan(make(), minutes)[cfg]
    extent = make().get("structure_extent_mm")
    spacing = np.asarray(longer.spacing[-len(longer.patch_size) :])
    for axis, (patch, ref) in enumerate(zip(longer.patch_size, reference.patch_size)):
        allowed = ref if extent is None else max(ref, CONTEXT_MARGIN * extent[-len(spacing) :][axis] / spacing[axis])
        # The network's strides may round the patch up by less than one stride multiple.
        stride = int(np.prod([s[axis] for s in longer.network.strides]))
        assert patch <= allowed + stride, (name, minutes, longer.patch_size, reference.patch_size)
    assert longer.training.expected_iterations >= reference.training.expected_iterations
    assert longer.training.time_budget_s == minutes * 60
    assert any("reference" in r for r in longer.reasons), longer.reasons


def test_isbi_like_data_spends_a_longer_budget_on_iterations_with_the_reference_patch():
    make, _ = FINGERPRINTS["isbi_like_small_cells"]
    reference, hour = _plan(make(), 15)["2d"], _plan(make(), 60)["2d"]
    assert hour.patch_size == reference.patch_size and hour.batch_size == reference.batch_size
    assert hour.network == reference.network
    assert hour.training.expected_iterations >= 3.9 * reference.training.expected_iterations
    assert any("already covers the structures' context" in r for r in hour.reasons)


def test_large_structures_let_the_patch_grow_toward_their_context_but_no_further():
    make, _ = FINGERPRINTS["ct_like_large_organs"]
    reference, hour = _plan(make(), 15)["3d_fullres"], _plan(make(), 60)["3d_fullres"]
    assert np.prod(hour.patch_size) > np.prod(reference.patch_size)
    assert any("grows toward it" in r for r in hour.reasons)


def test_budgets_up_to_the_reference_are_planned_as_before():
    fp = FINGERPRINTS["isbi_like_small_cells"][0]()
    without = fingerprint((1, 512, 512), (999.0, 1.0, 1.0), n=30, labels=2)
    for minutes in (5, 15):
        assert _plan(fp, minutes)["2d"].patch_size == _plan(without, minutes)["2d"].patch_size
        assert not any("reference" in r for r in _plan(fp, minutes)["2d"].reasons)


def test_the_old_policy_preset_grows_the_patch_as_before_for_side_by_side_benchmarks():
    from pathlib import Path

    old = load_preset(Path(__file__).resolve().parents[1] / "benchmarks" / "budget" / "old_policy.json")
    make, _ = FINGERPRINTS["isbi_like_small_cells"]
    hour_old = plan_configurations(make(), old, cpu(minutes=60))["configurations"]["2d"]
    hour_new = _plan(make(), 60)["2d"]
    assert np.prod(hour_old.patch_size) > np.prod(hour_new.patch_size)
    assert not any("reference" in r for r in hour_old.reasons)
