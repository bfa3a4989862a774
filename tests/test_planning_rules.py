"""Planning rules on many synthetic fingerprints: isotropic, anisotropic, 2D, tiny, huge; CPU and GPU budgets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoseg.errors import AutosegError
from autoseg.planning.budget import DeviceBudget
from autoseg.planning.normalization import choose_normalization
from autoseg.planning.patch_and_batch import size_to_budget
from autoseg.planning.planner import plan_configurations
from autoseg.planning.presets import available_presets, load_preset
from autoseg.planning.spacing import axis_transpose, target_spacing
from autoseg.planning.splits import choose_split_mode, load_user_splits, make_splits
from autoseg.planning.topology import plan_topology, topology_for_patch


def fingerprint(shape, spacing, n=20, channels=("MRI",), labels=3, crop_fraction=1.0, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        sp = [s * (1 + jitter * rng.uniform(-1, 1)) if s < 999 else s for s in spacing]
        sh = [max(1, int(round(s * (1 + jitter * rng.uniform(-1, 1))))) if s > 1 else s for s in shape]
        cases.append(
            {
                "case_id": f"c{i:03d}",
                "spacing": sp,
                "shape": sh,
                "cropped_shape": sh,
                "crop_fraction": crop_fraction,
                "class_voxels": [1000] * labels,
            }
        )
    spacings = np.array([c["spacing"] for c in cases])
    return {
        "num_cases": n,
        "num_channels": len(channels),
        "channel_names": list(channels),
        "labels": {f"l{i}": i for i in range(labels)},
        "is_2d": shape[0] == 1,
        "median_spacing": np.median(spacings, 0).tolist(),
        "spacing_percentile_10": np.percentile(spacings, 10, 0).tolist(),
        "median_crop_fraction": crop_fraction,
        "cases": cases,
        "foreground_intensity": [
            {"channel": c, "mean": 100.0, "std": 20.0, "percentile_00_5": 10.0, "percentile_99_5": 300.0}
            for c in channels
        ],
        "neighbour_similarity": None,
    }


def cpu(minutes=15, gflops=75):
    return DeviceBudget(
        kind="cpu", name="test", time_budget_s=minutes * 60, flops_per_s={"2d": gflops * 1e9, "3d": gflops * 1e9}
    )


def gpu(gb=8):
    return DeviceBudget(kind="cuda", name="test", memory_bytes=gb * 2**30)


def test_isotropic_gpu_plan_matches_nnunet_on_hippocampus_like_data():
    fp = fingerprint((36, 51, 35), (1.0, 1.0, 1.0))
    configs = plan_configurations(fp, load_preset("default"), gpu())["configurations"]
    full = configs["3d_fullres"]
    assert full.spacing == [1.0, 1.0, 1.0]
    assert full.patch_size == [40, 56, 40]
    assert [sum(s[a] > 1 for s in full.network.strides) for a in range(3)] == [3, 3, 3]
    assert full.batch_size >= 2 and "3d_lowres" not in configs


def test_cpu_budget_shrinks_patch_and_more_time_allows_more():
    fp = fingerprint((128, 256, 256), (1.0, 0.8, 0.8))
    short = plan_configurations(fp, load_preset("default"), cpu(minutes=5))["configurations"]["3d_fullres"]
    long = plan_configurations(fp, load_preset("default"), cpu(minutes=60))["configurations"]["3d_fullres"]
    assert np.prod(short.patch_size) < np.prod(long.patch_size)
    assert short.training.time_budget_s == 300
    floor = load_preset("default")["cpu"]["min_iterations_3d"]
    assert short.training.expected_iterations >= floor


def test_iteration_estimate_counts_the_cheaper_progressive_phase():
    fp = fingerprint((128, 256, 256), (1.0, 0.8, 0.8))
    budget = cpu(minutes=5)
    t = plan_configurations(fp, load_preset("default"), budget)["configurations"]["3d_fullres"].training
    assert t.progressive_patch_size and t.progressive_fraction > 0
    full_steps = plan_configurations(
        fp, {**load_preset("default"), "cpu": {**load_preset("default")["cpu"], "progressive": None}}, budget
    )["configurations"]["3d_fullres"].training.expected_iterations
    # Half the budget on 0.6x patches at twice the batch (0.43x the voxels) buys ~1.65x the full-patch steps.
    assert t.expected_iterations == pytest.approx(full_steps * (0.5 / (0.6**3 * 2) + 0.5), rel=0.1)


def test_anisotropic_axis_takes_tenth_percentile_and_is_not_pooled_first():
    fp = fingerprint((20, 320, 320), (5.0, 0.7, 0.7), jitter=0.3)
    spacing, reason = target_spacing(fp["median_spacing"], fp["spacing_percentile_10"])
    assert spacing[0] == pytest.approx(max(fp["spacing_percentile_10"][0], max(spacing[1:]) + 1e-5))
    assert "10th percentile" in reason
    full = plan_configurations(fp, load_preset("default"), gpu())["configurations"]["3d_fullres"]
    assert full.network.strides[1][0] == 1 and full.network.kernel_sizes[0][0] == 1
    assert full.resampling.anisotropic_axis == 0


def test_coarse_axis_is_transposed_first():
    forward, backward = axis_transpose([0.8, 0.8, 4.0])
    assert forward == [2, 0, 1] and [forward[b] for b in backward] == [0, 1, 2]


def test_2d_dataset_plans_only_2d():
    fp = fingerprint((1, 512, 512), (999.0, 1.0, 1.0), n=30)
    configs = plan_configurations(fp, load_preset("default"), cpu(minutes=10))["configurations"]
    assert list(configs) == ["2d"]
    assert configs["2d"].spatial_dims == 2 and len(configs["2d"].patch_size) == 2
    assert configs["2d"].augmentation.mirror_axes == [0, 1]


def test_tiny_images_keep_feature_maps_at_least_min_edge():
    fp = fingerprint((6, 10, 9), (1.0, 1.0, 1.0))
    full = plan_configurations(fp, load_preset("default"), gpu())["configurations"]["3d_fullres"]
    total = np.prod(np.array(full.network.strides), 0)
    assert all(p / t >= 4 for p, t in zip(full.patch_size, total))


@pytest.mark.slow
def test_huge_images_get_lowres_and_cascade_on_gpu():
    fp = fingerprint((512, 512, 512), (1.0, 1.0, 1.0))
    configs = plan_configurations(fp, load_preset("default"), gpu())["configurations"]
    assert "3d_lowres" in configs and configs["3d_cascade_fullres"].previous_stage == "3d_lowres"
    assert configs["3d_lowres"].spacing[0] > 1.0
    assert configs["3d_cascade_fullres"].network.in_channels == 1 + 2


def test_topology_minimum_edge_and_divisibility():
    patch, topo = topology_for_patch([1.0, 1.0, 1.0], [37, 51, 35])
    assert all(p % t == 0 for p, t in zip(patch, topo.total_stride))
    assert plan_topology([3.0, 0.8, 0.8], [20, 192, 160]).kernel_sizes[0] == [1, 3, 3]


def test_ct_channel_gets_global_clip_and_mri_per_image_zscore():
    fp = fingerprint((64, 64, 64), (1, 1, 1), channels=("CT", "T1"), crop_fraction=0.5)
    choices, _ = choose_normalization(fp)
    assert choices[0].scheme == "ct" and choices[0].clip == [10.0, 300.0]
    assert choices[1].scheme == "zscore" and choices[1].use_mask


def test_splits_random_grouped_consecutive():
    ids = [f"c{i:02d}" for i in range(20)]
    random = make_splits(ids, 5, seed=1)
    assert sorted(sum((f["val"] for f in random), [])) == ids
    consecutive = make_splits(ids, 5, mode="consecutive")
    assert consecutive[4]["val"] == ids[16:]
    groups = {c: f"patient{int(c[1:]) // 4}" for c in ids}
    grouped = make_splits(ids, 5, mode="grouped", groups=groups)
    for fold in grouped:
        assert not {groups[c] for c in fold["val"]} & {groups[c] for c in fold["train"]}
    assert choose_split_mode({"neighbour_similarity": {"neighbours": 0.5, "random_pairs": 0.1}})[0] == "consecutive"
    assert choose_split_mode({"neighbour_similarity": {"neighbours": 0.8, "random_pairs": 0.8}})[0] == "random"


def test_user_splits_are_taken_as_given_and_checked(tmp_path):
    ids = [f"c{i:02d}" for i in range(20)]
    path = tmp_path / "splits.json"
    folds = make_splits(ids, 5, seed=3)
    path.write_text(json.dumps(folds))
    assert load_user_splits(path, ids) == folds  # a plan's own splits.json is accepted as it is
    path.write_text(json.dumps([{"train": ids[:10] + ["stranger"], "val": ids[10:]}]))
    with pytest.raises(AutosegError, match="stranger"):
        load_user_splits(path, ids)
    path.write_text(json.dumps([{"train": ids[:11], "val": ids[10:]}]))
    with pytest.raises(AutosegError, match="both train and val"):
        load_user_splits(path, ids)


def test_presets_exist_and_load():
    assert {"default", "cpu-fast"} <= set(available_presets())
    fast = load_preset("cpu-fast")
    assert fast["cpu"]["time_budget_s"] < load_preset("default")["cpu"]["time_budget_s"]


def _within(seconds: int, function, *args, **kwargs):
    """Run `function`, failing (instead of hanging the suite) when it takes longer than `seconds`."""
    import signal

    def timeout(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        return function(*args, **kwargs)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
@pytest.mark.parametrize("budget", [cpu(minutes=15, gflops=30), gpu(gb=0.01)], ids=["slow-cpu", "tiny-gpu"])
def test_patch_shrinking_stops_at_the_smallest_patch_and_says_so(budget):
    # The thin axis reaches min_edge first; it used to be picked again and again without shrinking (a hang).
    preset = load_preset("default")
    settings = preset["gpu"] if budget.kind == "cuda" else preset["cpu"]
    sizing = _within(
        60,
        size_to_budget,
        [10.0, 1.5, 1.5],
        [10, 256, 216],
        in_channels=1,
        num_classes=3,
        budget=budget,
        settings=settings,
        architecture=preset["architecture"],
        min_edge=preset["min_feature_map_edge"],
        max_stages=preset["max_stages_3d"],
        dataset_voxels=1e8,
        flops_per_s=budget.flops_per_s.get("3d"),
    )
    assert sizing.patch_size[0] >= preset["min_feature_map_edge"]
    if budget.kind == "cuda":
        assert any("still misses the cuda budget" in r for r in sizing.reasons), sizing.reasons


def test_plan_seed_reaches_every_configuration_training_seed():
    fp = fingerprint((36, 51, 35), (1.0, 1.0, 1.0))
    configs = plan_configurations(fp, load_preset("default"), gpu(), seed=7)["configurations"]
    assert {c.training.seed for c in configs.values()} == {7}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_folds=1), "use -f all"),
        (dict(n_folds=0), "use -f all"),
        (dict(mode="grouped", groups={f"c{i:02d}": "one" for i in range(6)}), "use -f all"),
        (dict(mode="random", groups={f"c{i:02d}": f"g{i % 3}" for i in range(6)}), "--groups"),
        (dict(mode="consecutive", groups={f"c{i:02d}": f"g{i % 3}" for i in range(6)}), "--groups"),
    ],
)
def test_splits_refuse_fewer_than_two_folds_or_groups_and_unused_groups(kwargs, message):
    with pytest.raises(AutosegError, match=message):
        make_splits([f"c{i:02d}" for i in range(6)], **kwargs)


def test_preset_file_without_name_is_named_after_the_file(tmp_path):
    path = tmp_path / "mine.json"
    data = {**load_preset("default"), "lowres_trigger": 0.5}
    del data["name"]
    path.write_text(json.dumps(data))
    preset = load_preset(str(path))
    assert preset["name"] == "mine" and preset["lowres_trigger"] == 0.5


def test_preset_extends_a_relative_file_and_a_builtin(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.json").write_text(json.dumps({"extends": "default", "lowres_trigger": 0.1}))
    (tmp_path / "child.json").write_text(
        json.dumps({"name": "kid", "extends": "sub/base.json", "cpu": {"time_budget_s": 60}})
    )
    preset = load_preset(str(tmp_path / "child.json"))
    assert preset["name"] == "kid" and preset["lowres_trigger"] == 0.1 and preset["cpu"]["time_budget_s"] == 60
    assert preset["gpu"] == load_preset("default")["gpu"]


def test_preset_extends_cycle_and_missing_keys_name_the_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"extends": "b.json"}))
    (tmp_path / "b.json").write_text(json.dumps({"extends": "a.json"}))
    with pytest.raises(AutosegError, match="cycle"):
        load_preset(str(tmp_path / "a.json"))
    (tmp_path / "bare.json").write_text(json.dumps({"cpu": {}}))
    with pytest.raises(AutosegError, match="is missing") as error:
        load_preset(str(tmp_path / "bare.json"))
    assert str(tmp_path / "bare.json") in str(error.value) and '"extends": "default"' in str(error.value)


@pytest.mark.parametrize(
    "cpu, fragments",
    [
        ({"max_patch_voxels_3D": 100}, ["cpu.max_patch_voxels_3D", "not a known field"]),  # misspelt: not ignored
        ({"blocks_per_stage": [1, 0, 2]}, ["cpu.blocks_per_stage", "1..64"]),
        ({"max_batch_2d": 10**9}, ["cpu.max_batch_2d", "4096"]),
        ({"time_budget_s": -5}, ["cpu.time_budget_s", "greater than 0"]),
        ({"training": {"learning_rat": 0.1}}, ["cpu.training.learning_rat"]),
        ({"progressive": {"patch_scale": 3}}, ["cpu.progressive.patch_scale"]),
    ],
)
def test_a_wrong_preset_is_one_line_naming_the_field(tmp_path, cpu, fragments):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"extends": "default", "cpu": cpu}))
    with pytest.raises(AutosegError) as error:
        load_preset(str(path))
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert all(fragment in message for fragment in fragments), message


def test_preset_comments_are_skipped_and_every_shipped_preset_validates():
    assert {"default", "cpu-fast", "large-gpu"} <= set(available_presets())
    for name in available_presets():
        assert load_preset(name)["name"] == name
    assert "_why" in load_preset("default")["cpu"]  # a comment: kept in the data, skipped by the schema


def test_planning_on_a_busy_cpu_warns_that_plans_come_out_small():
    from autoseg.planning.budget import busy_cpu_warning

    assert busy_cpu_warning(2, load=1.2) is None  # the plan's own measuring keeps ~1 core busy
    warning = busy_cpu_warning(2, load=8.0)
    assert "load average 8.0 on 2 core(s)" in warning and "--cpu-gflops" in warning


def test_budget_alternative_presets_plan_what_they_say():
    """benchmarks/budget/*.json: the ways of spending a longer budget that issue 32 compares, planned at 1 h."""
    from pathlib import Path

    from autoseg.planning.patch_and_batch import stage_blocks

    assert stage_blocks(2, 3) == [2, 2, 2] and stage_blocks([1, 3, 4, 6], 6) == [1, 3, 4, 6, 6, 6]
    assert stage_blocks([1, 3, 4, 6, 6, 6], 4) == [1, 3, 4, 6]
    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "budget"
    fp = fingerprint((36, 51, 35), (1.0, 1.0, 1.0))
    planned = {
        name: plan_configurations(fp, load_preset(folder / f"{name}.json"), cpu(minutes=60))["configurations"][
            "3d_fullres"
        ]
        for name in ("wide", "resenc", "batch")
    }
    base = plan_configurations(fp, load_preset("default"), cpu(minutes=60))["configurations"]["3d_fullres"]
    assert planned["wide"].network.features[0] == 2 * base.network.features[0]
    resenc = planned["resenc"].network
    assert resenc.architecture == "residual_unet" and resenc.decoder_blocks == 1
    assert resenc.blocks_per_stage == [1, 3, 4, 6, 6, 6][: resenc.num_stages]
    assert planned["batch"].batch_size == 8
