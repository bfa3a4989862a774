"""Every registered architecture, 2D and 3D, on tiny odd-sized inputs: shapes, gradients, seeding, anisotropy,
autocast, channels-last, and the factory's errors."""

from __future__ import annotations

import math

import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.networks import build_network, registered_architectures
from autoseg.schema.convert import to_dict
from autoseg.schema.network import NetworkSpec

ARCHITECTURES = [
    "unet",
    "residual_unet",
    "attention_unet",
    "unet_pp",
    "u2net",
    "r2unet",
    "dense_unet",
    "inception_unet",
    "gru_unet",
    "repmlp_unet",
]
ODD_SIZES = {2: (37, 45), 3: (13, 21, 17)}


def tiny_spec(architecture: str, dims: int, **changes) -> NetworkSpec:
    fields = dict(
        architecture=architecture,
        spatial_dims=dims,
        in_channels=2,
        num_classes=3,
        features=[4, 8, 16],
        kernel_sizes=[[3] * dims] * 3,
        strides=[[1] * dims, [2] * dims, [2] * dims],
    )
    fields.update(changes)
    return NetworkSpec(**fields)


def expected_size(size, scale):
    return tuple(math.ceil(n / s) for n, s in zip(size, scale))


def test_every_architecture_of_the_brief_is_registered():
    assert sorted(ARCHITECTURES) == registered_architectures()


@pytest.mark.slow
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_backward_on_odd_sizes_reaches_every_parameter(architecture, dims):
    torch.manual_seed(0)
    model = build_network(tiny_spec(architecture, dims), seed=0).train()
    size = ODD_SIZES[dims]
    outputs = model(torch.randn(2, 2, *size))
    assert isinstance(outputs, list) and len(outputs) == len(model.output_scales) >= 2
    for output, scale in zip(outputs, model.output_scales):
        assert output.shape == (2, 3, *expected_size(size, scale))
    sum(o.square().mean() for o in outputs).backward()
    no_gradient = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_gradient == []

    model.eval()
    with torch.no_grad():
        prediction = model(torch.randn(1, 2, *size))
    assert isinstance(prediction, torch.Tensor) and prediction.shape == (1, 3, *size)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_same_spec_and_seed_give_identical_weights(architecture):
    spec = tiny_spec(architecture, 2)
    global_state = torch.random.get_rng_state()
    a, b = build_network(spec, seed=7).state_dict(), build_network(to_dict(spec), seed=7).state_dict()
    assert torch.equal(torch.random.get_rng_state(), global_state)  # seeding leaves the global RNG alone
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = build_network(spec, seed=8).state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_anisotropic_kernels_and_strides(architecture):
    # like a 20x192x160 patch planned with in-plane-only first stages, shrunk
    spec = tiny_spec(
        architecture, 3, kernel_sizes=[[1, 3, 3], [1, 3, 3], [3, 3, 3]], strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]]
    )
    model = build_network(spec, seed=0).train()
    size = (5, 23, 19)
    outputs = model(torch.randn(1, 2, *size))
    for output, scale in zip(outputs, model.output_scales):
        assert output.shape[2:] == expected_size(size, scale)
    assert model.output_scales[-1][0] <= 2  # z is pooled only by the last stage (except U-Net++: never)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bf16_autocast_on_cpu(architecture):
    model = build_network(tiny_spec(architecture, 2), seed=0).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = model(torch.randn(1, 2, 19, 21))
    loss = sum(o.float().mean() for o in outputs)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(o.shape[2:] == expected_size((19, 21), s) for o, s in zip(outputs, model.output_scales))


@pytest.mark.parametrize("architecture", ["unet", "u2net", "repmlp_unet"])
def test_channels_last_gives_the_same_result(architecture):
    spec = tiny_spec(architecture, 3)
    x = torch.randn(2, 2, 9, 12, 10)
    dense = build_network(spec, seed=0).eval()
    last = build_network(spec, seed=0).eval().to(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        expected = dense(x)
        got = last(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_output_scales_follow_the_strides():
    spec = tiny_spec(
        "unet",
        3,
        features=[4, 8, 16, 32],
        kernel_sizes=[[3, 3, 3]] * 4,
        strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
    )
    model = build_network(spec)
    assert model.output_scales == [(1, 1, 1), (1, 2, 2), (2, 4, 4)]
    assert build_network(tiny_spec("unet_pp", 2)).output_scales == [(1, 1), (1, 1)]
    assert build_network(tiny_spec("u2net", 2)).output_scales == [(1, 1), (1, 1), (2, 2), (4, 4)]


def test_without_deep_supervision_training_returns_one_full_resolution_tensor():
    model = build_network(tiny_spec("unet", 2, deep_supervision=False)).train()
    assert model.output_scales == [(1, 1)]
    output = model(torch.randn(1, 2, 11, 13))
    assert isinstance(output, torch.Tensor) and output.shape == (1, 3, 11, 13)


def test_unet_pp_pruned_inference_equals_the_shallow_top_row_output():
    model = build_network(
        tiny_spec(
            "unet_pp", 2, features=[4, 8, 16, 32], kernel_sizes=[[3, 3]] * 4, strides=[[1, 1], [2, 2], [2, 2], [2, 2]]
        ),
        seed=0,
    )
    x = torch.randn(1, 2, 24, 20)
    with torch.no_grad():
        full = model.train()(x)  # deepest column first: columns 3, 2, 1
        model.eval().prune(1)
        torch.testing.assert_close(model(x), full[-1])
        model.prune(None)
        torch.testing.assert_close(model(x), full[0])
    pruned = build_network(tiny_spec("unet_pp", 2, options={"inference_depth": 1}), seed=0).eval()
    assert pruned.inference_depth == 1
    with pytest.raises(AutosegError, match="inference_depth"):
        build_network(tiny_spec("unet_pp", 2, options={"inference_depth": 5}))


def test_unknown_architecture_lists_the_registered_names():
    with pytest.raises(AutosegError) as error:
        build_network(tiny_spec("vnet", 3))
    assert "vnet" in str(error.value) and "unet_pp" in str(error.value)


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"kernel_sizes": [[3, 3]] * 2}, "kernel_sizes"),
        ({"strides": [[2, 2], [2, 2], [2, 2]]}, "strides[0]"),
        ({"kernel_sizes": [[2, 2]] * 3}, "odd"),
        ({"norm": "layer"}, "norm"),
        ({"activation": "swish"}, "activation"),
        ({"options": {"growth": 4}}, "options"),
    ],
)
def test_bad_specs_raise_one_clear_error(changes, words):
    with pytest.raises(AutosegError, match="network") as error:
        build_network(tiny_spec("unet", 2, **changes))
    assert words in str(error.value)


@pytest.mark.parametrize("norm", ["batch", "group"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_norm_activation_and_dropout_choices(norm, activation):
    spec = tiny_spec("residual_unet", 2, norm=norm, activation=activation, dropout=0.2)
    model = build_network(spec, seed=0).train()
    kinds = {type(m).__name__ for m in model.modules()}
    assert {
        "BatchNorm2d" if norm == "batch" else "GroupNorm",
        "ReLU" if activation == "relu" else "GELU",
        "Dropout2d",
    } <= kinds
    assert "InstanceNorm2d" not in kinds and "LeakyReLU" not in kinds
    outputs = model(torch.randn(2, 2, 15, 17))
    assert outputs[0].shape == (2, 3, 15, 17)


def test_he_initialisation_and_zero_biases():
    model = build_network(tiny_spec("unet", 3, features=[32, 64, 64]), seed=0)
    conv = model.encoder[1][0][0]
    fan_in = conv.weight[0].numel()
    expected_std = math.sqrt(2.0 / (1 + 1e-2**2) / fan_in)
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.1)
    assert all(torch.count_nonzero(h.bias) == 0 for h in model.heads)


def test_layout_keeping_instance_norm_matches_torch():
    from autoseg.networks.instance_norm import InstanceNorm

    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 7, 8) * 3 + 1
    ours = InstanceNorm(5)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.uniform_(-1, 1)
    reference = torch.nn.InstanceNorm3d(5, affine=True)
    reference.load_state_dict(ours.state_dict())
    expected = reference(x)
    assert torch.allclose(ours(x), expected, atol=1e-5)
    channels_last = x.contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(ours(channels_last), expected, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.allclose(ours(x.bfloat16()).float(), expected, atol=0.1)
