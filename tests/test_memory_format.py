"""The channels-last choice: the plan's explicit setting wins; "auto" measures on CPU, except in deterministic runs."""
import logging

import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.networks.factory import build_network
from autoseg.schema.network import NetworkSpec
from autoseg.training.memory_format import choose_channels_last

CPU = torch.device("cpu")


def small_unet(dims):
    return build_network(NetworkSpec(architecture="unet", spatial_dims=dims, in_channels=1, num_classes=2,
                                     features=[4, 8], kernel_sizes=[[3] * dims] * 2,
                                     strides=[[1] * dims, [2] * dims], blocks_per_stage=[1, 1], decoder_blocks=1))


def test_explicit_settings_are_kept_and_unknown_ones_named():
    model = small_unet(2)
    assert choose_channels_last("on", CPU, model, [16, 16], 2, 1, False) == "on"
    assert choose_channels_last("off", CPU, model, [16, 16], 2, 1, False) == "off"
    with pytest.raises(AutosegError, match="channels_last"):
        choose_channels_last("yes", CPU, model, [16, 16], 2, 1, False)


def test_deterministic_runs_use_the_fixed_rule():
    assert choose_channels_last("auto", CPU, small_unet(3), [8, 8, 8], 1, 1, True) == "on"
    assert choose_channels_last("auto", CPU, small_unet(2), [16, 16], 2, 1, True) == "off"


def test_auto_measures_and_leaves_the_model_as_it_was(caplog):
    model = small_unet(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="autoseg.train"):
        choice = choose_channels_last("auto", CPU, model, [32, 32], 2, 1, False)
    assert choice in ("on", "off")
    assert "measured step" in caplog.text
    weight = next(model.parameters())
    assert weight.is_contiguous() and weight.grad is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items() if "running" not in k)
