"""Prediction with torch.compile (inference/compiled.py): one input shape per network whatever the batch sizes
the sliding window makes, results equal to the eager network's, and the auto rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import autoseg.inference.compiled as compiled_module
from autoseg.errors import AutosegError
from autoseg.inference.compiled import CompiledNetwork, use_inference_compile
from autoseg.inference.sliding_window import sliding_window_logits


def test_auto_compiles_only_models_trained_compiled_and_enough_cases():
    assert use_inference_compile("auto", [True, True], 60)
    assert not use_inference_compile("auto", [True, None], 60)  # a fold without a record: not known to work
    assert not use_inference_compile("auto", [True], 3)  # too few cases to earn the compile back
    assert use_inference_compile("on", [False], 1) and not use_inference_compile("off", [True], 100)
    with pytest.raises(AutosegError, match="--compile"):
        use_inference_compile("always", [True], 1)


@pytest.mark.slow
def test_every_forward_pass_has_the_first_batch_shape_and_results_match_eager(monkeypatch):
    shapes = []

    def recording_compile(network, dynamic=False):
        def run(x):
            shapes.append(tuple(x.shape))
            return network(x)

        return run

    monkeypatch.setattr(compiled_module.torch, "compile", recording_compile)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1), torch.nn.InstanceNorm3d(4), torch.nn.Conv3d(4, 3, 1)
    ).eval()
    wrapped = CompiledNetwork(net)
    image = np.random.default_rng(0).normal(size=(2, 13, 20, 17)).astype(np.float32)
    expected = sliding_window_logits(
        net, image, [8, 8, 8], 3, 3, mirror_axes=(0, 1, 2), channels_last=True, max_batch_voxels=5 * 512
    )
    got = sliding_window_logits(
        wrapped, image, [8, 8, 8], 3, 3, mirror_axes=(0, 1, 2), channels_last=True, max_batch_voxels=5 * 512
    )
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert len(set(shapes)) == 1 and shapes[0][0] == 5  # 5 inputs a pass (max_batch_voxels); the last padded


def test_a_compiler_failure_falls_back_to_the_eager_network(monkeypatch):
    def broken_compile(network, dynamic=False):
        def run(x):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(compiled_module.torch, "compile", broken_compile)
    net = torch.nn.Conv3d(1, 2, 1).eval()
    wrapped = CompiledNetwork(net)
    x = torch.randn(2, 1, 4, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), net(x))
    assert wrapped.compiled is None
