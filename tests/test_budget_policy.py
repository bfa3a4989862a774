"""Issue 32's guard: a budget beyond the 15-minute reference never grows the patch past the structures' context
(measured from the fingerprint), never trains past MAX_PASSES passes over the training images, and never plans
fewer iterations than the reference plan."""

from __future__ import annotations

import numpy as np
import pytest

from autoseg.planning.budget_policy import CONTEXT_MARGIN, MAX_PASSES, REFERENCE_BUDGET_S
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
    """The plan and its variants alike: a rung may pick a variant."""
    make, cfg = FINGERPRINTS[name]
    reference = _plan(make(), REFERENCE_BUDGET_S / 60)[cfg]
    configs = _plan(make(), minutes)
    for longer in [c for c in configs.values() if c.name == cfg or c.variant_of == cfg]:
        _check_guard(make, minutes, reference, longer)


def _check_guard(make, minutes, reference, longer):
    name = longer.name
    extent = make().get("structure_extent_mm")
    spacing = np.asarray(longer.spacing[-len(longer.patch_size) :])
    for axis, (patch, ref) in enumerate(zip(longer.patch_size, reference.patch_size)):
        allowed = ref if extent is None else max(ref, CONTEXT_MARGIN * extent[-len(spacing) :][axis] / spacing[axis])
        # The network's strides may round the patch up by less than one stride multiple.
        stride = int(np.prod([s[axis] for s in longer.network.strides]))
        assert patch <= allowed + stride, (name, minutes, longer.patch_size, reference.patch_size)
    training = longer.training
    assert training.expected_iterations >= reference.training.expected_iterations
    per_iteration = _passes_per_iteration(make(), longer)
    if training.max_epochs is None:
        assert training.time_budget_s == minutes * 60
        assert training.expected_iterations * per_iteration <= MAX_PASSES * 1.05
    else:  # capped: the epochs end it within the passes (one epoch's rounding), or at the reference's iterations
        # (a variant's costlier steps may need the whole budget for the reference plan's iterations)
        assert training.time_budget_s <= minutes * 60
        capped = training.max_epochs * training.iterations_per_epoch
        assert capped >= training.expected_iterations
        if training.expected_iterations > reference.training.expected_iterations:
            assert (capped - training.iterations_per_epoch) * per_iteration <= MAX_PASSES
        assert any("passes over the training images" in r for r in longer.reasons), longer.reasons
    assert any("reference" in r for r in longer.reasons), longer.reasons


def _passes_per_iteration(fp, config):
    """Sampled voxels of an average iteration (the progressive share of epochs on the smaller patches) over the
    training images' voxels, counted here independently of the planner."""
    t, dims = config.training, config.spatial_dims
    full = np.prod(config.patch_size) * config.batch_size
    small = np.prod(t.progressive_patch_size or config.patch_size) * (t.progressive_batch_size or config.batch_size)
    mean = t.progressive_fraction * small + (1 - t.progressive_fraction) * full
    voxels = np.prod(config.median_shape[-dims:]) * fp["num_cases"] * (config.median_shape[0] if dims == 2 else 1)
    return mean / voxels


def test_a_long_budget_stops_where_iterations_overfit_and_leaves_the_rest_for_more_folds():
    # ISBI's numbers: 24 slices of 512x512; at 4 h the uncapped plan would make ~600 passes (benchmarks/budget).
    make, _ = FINGERPRINTS["isbi_like_small_cells"]
    fp = make()
    fp["num_cases"], fp["cases"] = 24, fp["cases"][:24]
    hour, four = _plan(fp, 60)["2d"], _plan(fp, 240)["2d"]
    assert four.patch_size == hour.patch_size and four.batch_size == hour.batch_size
    assert four.training.max_epochs is not None
    passes = four.training.expected_iterations * _passes_per_iteration(fp, four)
    assert MAX_PASSES * 0.95 <= passes <= MAX_PASSES
    assert four.training.expected_iterations > hour.training.expected_iterations
    assert hour.training.time_budget_s < four.training.time_budget_s < 240 * 60
    assert any("overfits" in r and "more folds" in r for r in four.reasons), four.reasons


def test_a_plan_its_time_ends_before_the_cap_still_carries_the_cap_for_a_faster_machine():
    # 20 ISBI-like slices at 30 minutes: the time budget ends training well within the passes, at the assumed rate
    make, _ = FINGERPRINTS["isbi_like_small_cells"]
    fp = make()
    fp["num_cases"], fp["cases"] = 20, fp["cases"][:20]
    plan = _plan(fp, 30)["2d"]
    training = plan.training
    assert training.time_budget_s == 30 * 60  # the time is not shortened
    assert training.expected_iterations * _passes_per_iteration(fp, plan) < MAX_PASSES * 0.9
    capped = training.max_epochs * training.iterations_per_epoch
    assert capped > training.expected_iterations
    assert (capped - training.iterations_per_epoch) * _passes_per_iteration(fp, plan) <= MAX_PASSES
    assert any("faster than measured" in r for r in plan.reasons), plan.reasons


def test_a_time_budget_keeps_the_plans_epoch_cap_and_explicit_epochs_or_an_extension_do_not():
    from types import SimpleNamespace

    from autoseg.training.budget import Budget, extended_budget, planned_budget

    tplan = SimpleNamespace(time_budget_s=3600.0, max_epochs=10, epochs=1000)
    budget = planned_budget(tplan, "4h", None)
    assert (budget.seconds, budget.epochs) == (14400.0, 10)
    assert budget.progress(elapsed=1440.0, epoch_float=5.0) == 0.5  # the epochs lead: the schedule follows them
    assert budget.progress(elapsed=10800.0, epoch_float=5.0) == 0.75  # a slow machine: the time leads
    assert budget.done(100.0, 10) and budget.done(14400.0, 3) and not budget.done(100.0, 9)
    assert "or 10 epochs, whichever ends first" in budget.describe()
    assert planned_budget(tplan, None, None) == Budget(3600.0, 10)
    assert planned_budget(tplan, None, 3) == Budget(None, 3)
    assert extended_budget(budget, 10, 1500.0, "1h", None) == Budget(1500.0 + 3600.0, None)


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


def test_where_the_patch_grows_the_reference_plan_goes_along_as_a_variant_for_a_rung_to_judge():
    from autoseg.planning.planner import VARIANT_SUFFIX
    from autoseg.scheduling.candidates import Candidate, narrow_to_comparable

    make, _ = FINGERPRINTS["ct_like_large_organs"]
    reference, hour = _plan(make(), 15)["3d_fullres"], _plan(make(), 60)
    grown, variant = hour["3d_fullres"], hour["3d_fullres" + VARIANT_SUFFIX]
    assert np.prod(grown.patch_size) > np.prod(variant.patch_size)
    assert variant.patch_size == reference.patch_size and variant.batch_size == reference.batch_size
    assert variant.network == reference.network and variant.spacing == grown.spacing
    assert variant.variant_of == "3d_fullres" and variant.data_identifier == grown.data_identifier
    assert variant.training.time_budget_s == grown.training.time_budget_s == 3600
    assert variant.training.expected_iterations >= 3.9 * reference.training.expected_iterations
    assert any("lets a rung of its halving decide" in r for r in variant.reasons), variant.reasons
    assert grown.variant_of is None
    # After every configuration in plans order: a schedule too short to compare everything drops variants first.
    assert list(hour).index(variant.name) > max(list(hour).index(n) for n, c in hour.items() if not c.variant_of)
    kept, skipped, _ = narrow_to_comparable([Candidate(n) for n in hour], explore=1500.0, eta=2, unit=3600.0)
    assert variant.name in skipped and "3d_fullres" in [c.name for c in kept]


def test_no_reference_patch_variant_where_the_evidence_decides_and_no_variant_at_the_reference_budget():
    from autoseg.planning.planner import VARIANT_SUFFIX

    for name in ("isbi_like_small_cells", "hippocampus_like", "isbi_like_no_extent"):
        make, _ = FINGERPRINTS[name]
        for minutes in (15, 60, 240):
            configs = _plan(make(), minutes)
            assert not [c for c in configs if c.endswith(VARIANT_SUFFIX)], (name, minutes, list(configs))
    for name in FINGERPRINTS:
        assert not [c for c in _plan(FINGERPRINTS[name][0](), 15).values() if c.variant_of], name


@pytest.mark.parametrize("name", ["hippocampus_like", "isbi_like_small_cells"])
def test_a_long_budget_carries_the_reference_plan_with_a_residual_encoder_for_a_rung_to_judge(name):
    from autoseg.planning.capacity_variant import CAPACITY_SUFFIX
    from autoseg.scheduling.candidates import Candidate, narrow_to_comparable

    make, cfg = FINGERPRINTS[name]
    reference = _plan(make(), 15)[cfg]
    hour = _plan(make(), 60)
    plain, resenc = hour[cfg], hour[cfg + CAPACITY_SUFFIX]
    assert resenc.variant_of == cfg and resenc.data_identifier == plain.data_identifier
    assert resenc.patch_size == reference.patch_size and resenc.batch_size == reference.batch_size
    network = resenc.network
    assert network.architecture == "residual_unet" and network.decoder_blocks == 1
    assert network.blocks_per_stage == [1, 3, 4, 6, 6, 6, 6][: len(network.features)]
    assert network.features == plain.network.features and network.strides == plain.network.strides
    # More work per step, so no more iterations than the plain plan (as many where both stop at the pass cap), but
    # never fewer than the reference plan's.
    iterations = resenc.training.expected_iterations
    assert reference.training.expected_iterations <= iterations <= plain.training.expected_iterations
    assert any("GFLOP per training step against the plain network's" in r for r in resenc.reasons)
    assert resenc.training.time_budget_s <= 3600
    assert any("lets a rung of its halving decide" in r for r in resenc.reasons), resenc.reasons
    # Last in plans order with the other variants: a short schedule drops it before any configuration.
    kinds = [c.variant_of is not None for c in hour.values()]
    assert kinds == sorted(kinds) and kinds[-1]
    kept, skipped, _ = narrow_to_comparable([Candidate(n) for n in hour], explore=300.0, eta=2, unit=3600.0)
    assert resenc.name in skipped and cfg in [c.name for c in kept]


def test_no_capacity_variant_when_it_would_make_fewer_iterations_than_the_reference_plan_or_the_preset_says_none():
    make, cfg = FINGERPRINTS["hippocampus_like"]
    # 20 minutes: the residual encoder's steps cost ~1.5x, so it would make fewer iterations than 15 minutes do.
    near = _plan(make(), 20)
    assert [c for c in near if c.startswith(cfg)] == [cfg]
    assert any("no capacity variant" in r for r in near[cfg].reasons), near[cfg].reasons
    preset = load_preset("default")
    preset["cpu"]["capacity_variant"] = None
    plain_only = plan_configurations(make(), preset, cpu(minutes=60))["configurations"]
    assert not [c for c in plain_only.values() if c.variant_of]


def test_a_planned_variant_is_in_plans_json_shares_the_preprocessed_data_and_trains_only_when_asked(
    synthetic_3d, tmp_path
):
    import json

    from autoseg.benchmark.dataset_run import choose_configurations
    from autoseg.plan_command import plan
    from autoseg.scheduling.candidates import all_candidates
    from autoseg.schema.plans import load_plans
    from autoseg.schema.splits_file import read_splits
    from autoseg.sharing.export import exported_plans

    # A reference budget of half a second makes the reference patch far smaller than the synthetic blobs' context,
    # so the 2-minute plan grows it, as a long budget does on data with large structures.
    preset = tmp_path / "short_reference.json"
    short = {"name": "short_reference", "extends": "cpu-fast", "cpu": {"reference_budget_s": 0.5}}
    preset.write_text(json.dumps(short))
    work = tmp_path / "work"
    plan(synthetic_3d, work, preset=str(preset), cpu_gflops=40, time_budget="2m", progress=False, workers=1)
    plans = load_plans(work)
    variants = {n: c.variant_of for n, c in plans.configurations.items() if c.variant_of}
    assert variants.get("3d_fullres_reference_patch") == "3d_fullres", list(plans.configurations)
    assert variants.get("3d_fullres_resenc") == "3d_fullres", list(plans.configurations)
    folders = sorted(p.name for p in (work / "preprocessed").iterdir() if p.is_dir())
    assert folders == sorted({c.data_identifier for c in plans.configurations.values()})
    assert "3d_fullres_reference_patch" not in folders
    default, _ = choose_configurations(plans, None)
    assert not set(variants) & set(default) and "3d_fullres" in default
    asked, _ = choose_configurations(plans, ["3d_fullres_reference_patch"])
    assert asked == ["3d_fullres_reference_patch"]
    log = (work / "plan.log").read_text()
    assert "3d_fullres_reference_patch: " in log and "lets a rung of its halving decide" in log
    # ... and a schedule (train --total-budget) has it among the configurations its halving compares.
    candidates = all_candidates(plans, read_splits(work / "splits.json"))
    assert [c.name for c in candidates][-len(variants) :] == list(variants)
    # The capacity variant trains on the base's preprocessed data, with its own network.
    from autoseg.training.loop import train

    summary = train(work, "3d_fullres_resenc", 0, epochs=1, workers=0, validate=False, progress=False)
    assert summary["iterations"] >= 1 and (work / "models" / "3d_fullres_resenc" / "fold_0").is_dir()
    # A model exported from the variant alone (a schedule's winner) is a valid plans.json without its base.
    model = tmp_path / "model"
    model.mkdir()
    (model / "plans.json").write_text(json.dumps(exported_plans(plans, ["3d_fullres_reference_patch"])))
    assert load_plans(model).configuration("3d_fullres_reference_patch").variant_of is None
