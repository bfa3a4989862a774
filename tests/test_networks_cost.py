"""The cost model: consistent with the real model, scales with batch, memory near a measured CPU step."""

from __future__ import annotations

import pytest

from autoseg.networks import build_network, registered_architectures
from autoseg.networks.cost import estimate_cost
from autoseg.networks.describe import describe_architectures, format_table
from autoseg.networks.measure import measure_in_subprocess
from autoseg.schema.network import NetworkSpec


def spec_3d(architecture: str = "unet") -> NetworkSpec:
    return NetworkSpec(architecture, 3, 1, 3, [8, 16, 32], [[3, 3, 3]] * 3, [[1, 1, 1], [2, 2, 2], [2, 2, 2]])


@pytest.mark.parametrize("architecture", ["unet", "u2net", "repmlp_unet"])
def test_cost_matches_the_model_and_scales_with_batch(architecture):
    spec = spec_3d(architecture)
    one = estimate_cost(spec, (16, 24, 20), 1)
    two = estimate_cost(spec, (16, 24, 20), 2)
    assert one["parameters"] == sum(p.numel() for p in build_network(spec).parameters())
    assert two["flops_forward"] == pytest.approx(2 * one["flops_forward"], rel=0.01)
    assert two["flops_train"] == pytest.approx(2 * one["flops_train"], rel=0.01)
    assert 2.5 < one["flops_train"] / one["flops_forward"] < 3.5  # backward ~ twice the forward
    assert two["activation_bytes"] == pytest.approx(2 * one["activation_bytes"], rel=0.05)
    assert one["peak_bytes_estimate"] > one["activation_bytes"] + one["parameter_bytes"]


def test_conv_flops_of_a_known_layer_count():
    # two-stage plain U-Net on 8x8 (2D), 1 image: count the multiply-adds by hand
    spec = NetworkSpec("unet", 2, 1, 2, [4, 8], [[3, 3]] * 2, [[1, 1], [2, 2]], blocks_per_stage=[1, 1])
    macs = (
        8 * 8 * 4 * 1 * 9  # stage 0 conv
        + 4 * 4 * 8 * 4 * 9  # stage 1 strided conv
        + 4 * 4 * 4 * 8 * 4  # transposed conv 2x2 (each input voxel -> 4 outputs)
        + 8 * 8 * 4 * 8 * 9  # decoder conv on the concatenation
        + 8 * 8 * 2 * 4
    )  # head
    assert estimate_cost(spec, (8, 8), 1)["flops_forward"] == 2 * macs


@pytest.mark.slow
def test_memory_estimate_is_within_a_loose_factor_of_a_measured_cpu_step():
    spec = spec_3d("unet")
    estimate = estimate_cost(spec, (32, 48, 40), 2)["peak_bytes_estimate"]
    measured = measure_in_subprocess(spec, (32, 48, 40), 2, iterations=1, warmup=0, timeout=900, exact_memory=True)
    assert 0.67 < estimate / measured["peak_training_bytes"] < 1.5


def test_describe_lists_every_architecture_with_costs():
    names = [row["name"] for row in describe_architectures()]
    assert names == registered_architectures()
    rows = describe_architectures(
        NetworkSpec("unet", 2, 1, 2, [4, 8, 16], [[3, 3]] * 3, [[1, 1], [2, 2], [2, 2]]), (32, 32), 2
    )
    assert all(row["parameters"] > 0 and row["gflops_train"] > 0 and row["peak_gib"] > 0 for row in rows)
    table = format_table(rows)
    assert all(name in table for name in names) and "GFLOPs" in table
