"""RepMLP re-parameterisation: the fused single operator equals the trained multi-branch form in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autoseg.networks import build_network, reparameterize
from autoseg.networks.blocks.repmlp import RepMLPUnit, from_partitions, to_partitions
from autoseg.networks.ops import Layers
from autoseg.schema.network import NetworkSpec


def randomise_batch_norms(module: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial running statistics and affine parameters, as after training."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.num_features, generator=generator) * 2 - 1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=generator) - 0.5)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / a.abs().max()).item()


@pytest.mark.parametrize(
    "dims, partition, kernels, size",
    [
        (2, (4, 4), [(3, 3), (1, 1)], (11, 9)),
        (3, (2, 4, 4), [(3, 3, 3), (1, 1, 1)], (5, 9, 7)),
        (3, (1, 4, 4), [(1, 3, 3), (1, 5, 5)], (3, 8, 8)),
    ],
)
def test_unit_reparameterization_is_equivalent(dims, partition, kernels, size):
    generator = torch.Generator().manual_seed(0)
    unit = RepMLPUnit(Layers(dims), channels=8, partition=partition, groups=2, conv_kernels=kernels)
    for branch in unit.branches:
        nn.init.normal_(branch[0].weight, std=0.3, generator=generator)
    randomise_batch_norms(unit, generator)
    unit.eval()
    x = torch.randn(2, 8, *size, generator=generator)
    with torch.no_grad():
        before = unit(x)
        unit.reparameterize()
        after = unit(x)
    assert unit.fused and len(unit.branches) == 0
    assert relative_error(before, after) < 1e-4


@pytest.mark.parametrize("dims", [2, 3])
def test_model_reparameterization_is_equivalent(dims):
    spec = NetworkSpec("repmlp_unet", dims, 1, 3, [4, 8, 16], [[3] * dims] * 3, [[1] * dims, [2] * dims, [2] * dims])
    model = build_network(spec, seed=1)
    randomise_batch_norms(model, torch.Generator().manual_seed(1))
    model.eval()
    x = torch.randn(2, 1, *((13, 21, 17) if dims == 3 else (37, 45)))
    with torch.no_grad():
        before = model(x)
        parameters = sum(p.numel() for p in model.parameters())
        model.reparameterize()
        after = model(x)
    assert sum(p.numel() for p in model.parameters()) < parameters
    assert not any(isinstance(m, RepMLPUnit) and not m.fused for m in model.modules())
    assert relative_error(before, after) < 1e-4


def test_generic_reparameterize_is_a_no_op_without_rep_blocks():
    spec = NetworkSpec("unet", 2, 1, 2, [4, 8], [[3, 3]] * 2, [[1, 1], [2, 2]])
    model = build_network(spec, seed=0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert reparameterize(model) is model
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_partitions_round_trip():
    x = torch.arange(2 * 3 * 4 * 6 * 8, dtype=torch.float32).reshape(2, 3, 4, 6, 8)
    parts, grid = to_partitions(x, (2, 3, 4))
    assert parts.shape == (2 * 2 * 2 * 2, 3, 2, 3, 4) and grid == (2, 2, 2)
    torch.testing.assert_close(parts[1], x[0, :, 0:2, 0:3, 4:8])
    torch.testing.assert_close(from_partitions(parts, grid), x)
