"""Memory-bounded inference pieces (issue 18): where results live (GPU, CPU fallback on out-of-memory, decided
with the device facts injected), compact accumulators, streaming argmax and per-channel restore, and the
precision a prediction runs in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.inference.export import argmax_labels, labels_from_probabilities
from autoseg.inference.placement import accumulation_dtype, results_device, run_with_cpu_fallback
from autoseg.inference.precision import inference_precision, training_precision
from autoseg.inference.predictor import activate_in_place
from autoseg.preprocessing.undo import restore_probabilities

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def test_results_stay_on_the_gpu_only_when_they_fit():
    assert results_device(CUDA, nbytes=1_000, free_bytes=10_000) == CUDA
    assert results_device(CUDA, nbytes=9_000, free_bytes=10_000) == CPU  # the network needs the rest
    assert results_device(CPU, nbytes=10**12, free_bytes=0) == CPU


def test_an_out_of_memory_gpu_run_is_repeated_with_results_on_the_cpu():
    tried, emptied = [], []

    def run(where: torch.device):
        tried.append(where.type)
        if where.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory")
        return "done"

    assert run_with_cpu_fallback(run, CUDA, 1_000, free_bytes=10**9, empty_cache=lambda: emptied.append(1)) == "done"
    assert tried == ["cuda", "cpu"] and emptied == [1]


def test_too_large_results_go_to_the_cpu_first_and_cpu_failures_are_not_hidden():
    tried = []

    def run(where: torch.device):
        tried.append(where.type)
        raise torch.OutOfMemoryError("out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        run_with_cpu_fallback(run, CUDA, 10**10, free_bytes=10**9)
    assert tried == ["cpu"]  # decided up front: never tried on the GPU, and no second attempt


def test_accumulators_are_float16_only_for_large_outputs():
    assert accumulation_dtype(3, (512, 512, 400)) == torch.float16
    assert accumulation_dtype(5, (155, 240, 240)) == torch.float32
    assert accumulation_dtype(3, (8, 8, 8), compact_above=100) == torch.float16


def test_streaming_argmax_equals_numpy_argmax_ties_included():
    rng = np.random.default_rng(0)
    p = rng.integers(0, 4, size=(5, 7, 9, 6)).astype(np.float32)  # many ties
    np.testing.assert_array_equal(argmax_labels(p), p.argmax(0))
    np.testing.assert_array_equal(labels_from_probabilities(p.astype(np.float16)), p.argmax(0))
    assert argmax_labels(p).dtype == np.uint8


def test_activation_in_place_equals_softmax_of_the_whole_volume():
    logits = torch.randn(4, 6, 7, 5)
    expected = torch.softmax(logits, 0).numpy()
    for dtype, tol in ((torch.float32, 1e-6), (torch.float16, 1e-3)):
        out = activate_in_place(logits.clone().to(dtype), lambda x: torch.softmax(x, 0).numpy(), chunk_voxels=11)
        assert out.dtype == (np.float32 if dtype == torch.float32 else np.float16)
        np.testing.assert_allclose(out.astype(np.float32), expected, atol=tol)


def _old_restore(probabilities, properties, transpose_backward):
    from autoseg.preprocessing.resample import resample_array

    cropped = resample_array(probabilities, properties["shape_after_crop"], order=1)
    full = np.zeros((probabilities.shape[0], *properties["shape_transposed"]), dtype=np.float32)
    full[0] = 1.0
    full[(slice(None), *[slice(lo, hi) for lo, hi in properties["bbox"]])] = cropped
    return np.ascontiguousarray(full.transpose([0] + [a + 1 for a in transpose_backward]))


@pytest.mark.parametrize("transpose_backward", [[0, 1, 2], [2, 0, 1], [1, 2, 0]])
def test_per_channel_restore_equals_the_whole_stack_restore(transpose_backward):
    rng = np.random.default_rng(1)
    probabilities = rng.random((3, 5, 8, 6)).astype(np.float32)
    properties = {"shape_after_crop": [7, 9, 6], "shape_transposed": [10, 12, 9], "bbox": [[1, 8], [2, 11], [3, 9]]}
    old = _old_restore(probabilities, properties, transpose_backward)
    new = restore_probabilities(probabilities, properties, transpose_backward)
    assert new.dtype == np.float32 and new.shape == old.shape
    np.testing.assert_allclose(new, old, atol=1e-6)
    half = restore_probabilities(probabilities.astype(np.float16), properties, transpose_backward)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), old, atol=2e-3)
    regions = restore_probabilities(probabilities, properties, transpose_backward, background=False)
    assert regions[:, 0, 0, 0].tolist() == [0, 0, 0]


def test_auto_precision_follows_training_where_this_machine_runs_it_fast():
    assert inference_precision("auto", CPU, ["bf16", "bf16"], fast_bf16=True) == "bf16"
    assert inference_precision("auto", CPU, ["bf16"], fast_bf16=False) == "fp32"  # emulated bf16 is slow
    assert inference_precision("auto", CPU, ["bf16", "fp32"], fast_bf16=True) == "fp32"
    assert inference_precision("auto", CPU, [None], fast_bf16=True) == "fp32"
    assert inference_precision("fp32", CPU, ["bf16"], fast_bf16=True) == "fp32"
    with pytest.raises(AutosegError):
        inference_precision("int8", CPU, [])


def test_training_precision_is_read_from_the_training_summary(tmp_path):
    fold = tmp_path / "models" / "3d_fullres" / "fold_0"
    fold.mkdir(parents=True)
    assert training_precision(tmp_path, "3d_fullres", "0") is None
    (fold / "training_summary.json").write_text('{"precision": "bf16"}')
    assert training_precision(tmp_path, "3d_fullres", "0") == "bf16"


def test_a_cascade_input_stack_slides_like_the_concatenated_array():
    """ChannelStack (image + uint8 previous-stage masks joined per window) gives the sliding window exactly the
    inputs np.concatenate would, without the whole-volume float32 copy."""
    from autoseg.inference.channel_stack import ChannelStack
    from autoseg.inference.sliding_window import sliding_window_logits

    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 9, 14, 11)).astype(np.float32)
    masks = (rng.random((2, 9, 14, 11)) > 0.5).astype(np.uint8)
    joined = np.concatenate([image, masks.astype(np.float32)])
    stack = ChannelStack(image, masks)
    assert stack.shape == joined.shape
    np.testing.assert_array_equal(stack[:, 2:5, 3:9, 0:4], joined[:, 2:5, 3:9, 0:4])
    np.testing.assert_array_equal(np.asarray(stack, dtype=np.float32), joined)
    torch.manual_seed(0)
    net = torch.nn.Conv3d(3, 2, 3, padding=1).eval()
    for patch in ([4, 8, 8], [12, 16, 8]):  # windows cut from it, and the zero-padded path (patch > image)
        expected = sliding_window_logits(net, joined, patch, 2, 3, mirror_axes=(0, 2))
        got = sliding_window_logits(net, stack, patch, 2, 3, mirror_axes=(0, 2))
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
